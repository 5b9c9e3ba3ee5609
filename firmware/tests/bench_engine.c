/* Instructions per hop of the keyword engine, split by component, and of whole-window inference.
 *
 * Ten seconds of speech-like audio go through (1) the front end alone, keeping the frames, (2) the streaming
 * network alone on those frames, keeping the logits, (3) the detector alone on those logits, (4) the whole
 * engine (kws_process, hop-sized chunks), and (5) whole-window inference (kws_network_window, the
 * non-streaming model) for WINDOW_HOPS hops, which must give the streaming logits. On mps2-an386 under QEMU
 * -icount shift=0 the SysTick ticks are converted to instructions with a calibration loop, as
 * bench_frontend.c does; on the host, tools/callgrind_engine.sh reads the inclusive counts of the bench_*
 * functions. */
#include <stdint.h>

#include "kws_board.h"
#include "kws_engine.h"
#include "kws_kernels.h"
#include "kws_network_window.h"
#include "kws_test_util.h"

#define SECONDS 10
#define SAMPLES (SECONDS * KWS_SAMPLE_RATE)
#define MAX_HOPS (SAMPLES / KWS_HOP_SAMPLES + 1)
#define WINDOW_HOPS 8
#define LAYER_CAP (KWS_MODEL_INPUT_FRAMES * 256)

static int16_t g_audio[SAMPLES];
static int8_t g_frames[MAX_HOPS * KWS_NUM_MFCC];
static int8_t g_logits[MAX_HOPS * KWS_MODEL_NUM_CLASSES];
static int8_t g_window_logits[WINDOW_HOPS * KWS_MODEL_NUM_CLASSES];
static int8_t g_layer_a[LAYER_CAP], g_layer_b[LAYER_CAP];
static int8_t g_pooled[KWS_MODEL_POOL_CHANNELS];
static uint32_t g_scratch[KWS_MODEL_SCRATCH_WORDS];
static kws_frontend_t g_frontend;
static kws_network_t g_network;
static kws_detector_t g_detector;
static kws_engine_t g_engine;
static kws_detection_t g_detections[MAX_HOPS];
static uint32_t g_seed = 11u;

__attribute__((noinline)) static int bench_frontend(void)
{
    int pos = 0, hops = 0, consumed;
    kws_frontend_init(&g_frontend);
    while (pos < SAMPLES) {
        const int n = SAMPLES - pos < KWS_HOP_SAMPLES ? SAMPLES - pos : KWS_HOP_SAMPLES;
        if (kws_frontend_push(&g_frontend, g_audio + pos, n, &consumed, g_frames + hops * KWS_NUM_MFCC) == 1) {
            ++hops;
        }
        pos += consumed;
    }
    return hops;
}

__attribute__((noinline)) static int bench_network(int hops)
{
    int h, valid = 0;
    kws_network_init(&g_network, &kws_model);
    for (h = 0; h < hops; ++h) {
        valid += kws_network_push(&g_network, g_frames + h * KWS_NUM_MFCC, g_logits + valid * KWS_MODEL_NUM_CLASSES);
    }
    return valid;
}

__attribute__((noinline)) static int bench_detector(int valid)
{
    int h, fired = 0;
    int32_t sum;
    kws_detector_init(&g_detector, kws_model.keywords);
    for (h = 0; h < valid; ++h) {
        fired += kws_detector_push(&g_detector, g_logits + h * KWS_MODEL_NUM_CLASSES, &sum) >= 0;
    }
    return fired;
}

__attribute__((noinline)) static int bench_engine(void)
{
    int pos = 0, found = 0;
    kws_engine_init(&g_engine);
    while (pos < SAMPLES) {
        const int n = SAMPLES - pos < KWS_HOP_SAMPLES ? SAMPLES - pos : KWS_HOP_SAMPLES;
        found += kws_process(&g_engine, g_audio + pos, n, g_detections, MAX_HOPS);
        pos += n;
    }
    return found;
}

/* Whole-window inference for the last WINDOW_HOPS hops (window w ends at frame hops - WINDOW_HOPS + w). */
__attribute__((noinline)) static void bench_window(int hops)
{
    int8_t *outs[KWS_MODEL_NUM_LAYERS];
    int w, i;
    for (i = 0; i < KWS_MODEL_NUM_LAYERS; ++i) {
        outs[i] = i % 2 ? g_layer_b : g_layer_a; /* layer i reads i - 1's buffer, writes the other */
    }
    for (w = 0; w < WINDOW_HOPS; ++w) {
        const int end = hops - WINDOW_HOPS + w;
        kws_network_window(&kws_model, g_frames + (end - KWS_MODEL_INPUT_FRAMES + 1) * KWS_NUM_MFCC, outs,
                           g_scratch, g_pooled, g_window_logits + w * KWS_MODEL_NUM_CLASSES);
    }
}

/* One call of each kind of kernel on the model's own layers (inputs: the rings after the run), to see where a
 * hop goes: ticks of KERNEL_CALLS calls each of layer 0 (conv), the first depthwise and pointwise layers and
 * the classifier. */
#define KERNEL_CALLS 64
__attribute__((noinline)) static void bench_kernels(uint32_t ticks[4])
{
    const int8_t *taps[KWS_MODEL_MAX_KERNEL];
    static int8_t in[256], out[256];
    int i, k, which;
    for (i = 0; i < 256; ++i) {
        in[i] = (int8_t)(kws_rand(&g_seed) % 256u - 128u);
    }
    for (k = 0; k < KWS_MODEL_MAX_KERNEL; ++k) {
        taps[k] = in;
    }
    for (which = 0; which < 4; ++which) {
        const kws_layer_t *l = which == 3 ? kws_model.classifier : &kws_model.layers[which];
        kws_board_timer_start();
        for (i = 0; i < KERNEL_CALLS; ++i) {
            if (l->kind == KWS_LAYER_DEPTHWISE) {
                kws_depthwise_frame(l, taps, out);
            } else {
                kws_conv_frame(l, taps, g_scratch, out);
            }
        }
        ticks[which] = kws_board_timer_read();
    }
}

static unsigned long per_hop(uint32_t ticks, uint32_t cal_ticks, int hops)
{
    return (unsigned long)((uint64_t)ticks * KWS_CALIBRATION_INSTRUCTIONS / cal_ticks / (uint64_t)hops);
}

int main(void)
{
    uint32_t kernel_ticks[4], seed = 7u, cal, t_front, t_net, t_det, t_engine, t_window;
    int32_t walk = 0;
    int i, hops, valid, fired, found, same = 1;

    /* Speech-like level: a leaky random walk plus noise, bursts and pauses (as bench_frontend.c). */
    for (i = 0; i < SAMPLES; ++i) {
        const int loud = (i / (KWS_SAMPLE_RATE / 2)) % 3 != 2;
        walk += (int32_t)(kws_rand(&seed) % 2001u) - 1000;
        walk -= walk / 64;
        g_audio[i] = (int16_t)(loud ? walk + (int32_t)(kws_rand(&seed) % 801u) - 400 : walk / 16);
    }
    cal = kws_calibration_ticks();
    kws_board_timer_start();
    hops = bench_frontend();
    t_front = kws_board_timer_read();
    kws_board_timer_start();
    valid = bench_network(hops);
    t_net = kws_board_timer_read();
    kws_board_timer_start();
    fired = bench_detector(valid);
    t_det = kws_board_timer_read();
    kws_board_timer_start();
    found = bench_engine();
    t_engine = kws_board_timer_read();
    kws_board_timer_start();
    bench_window(hops);
    t_window = kws_board_timer_read();
    bench_kernels(kernel_ticks);
    for (i = 0; i < WINDOW_HOPS * KWS_MODEL_NUM_CLASSES; ++i) {
        same = same && g_window_logits[i] == g_logits[(valid - WINDOW_HOPS) * KWS_MODEL_NUM_CLASSES + i];
    }

    kws_printf("bench-engine: %d hops, %d with logits, %d window hops, %d hops per second, %s kernels\n", hops,
               valid, WINDOW_HOPS, KWS_SAMPLE_RATE / KWS_HOP_SAMPLES, kws_kernels_dsp() ? "dsp" : "portable");
    kws_printf("detections: detector alone %d, engine %d; whole-window logits %s streaming\n", fired, found,
               same ? "equal" : "DIFFER FROM");
    kws_printf("macs per hop: streaming %d, whole window %d\n", KWS_MODEL_MACS_PER_HOP, KWS_MODEL_MACS_PER_WINDOW);
    if (cal != 0) {
        kws_printf("instructions per hop: frontend %lu network %lu detector %lu engine %lu window %lu\n",
                   per_hop(t_front, cal, hops), per_hop(t_net, cal, hops), per_hop(t_det, cal, valid),
                   per_hop(t_engine, cal, hops), per_hop(t_window, cal, WINDOW_HOPS));
        kws_printf("instructions per kernel call: layer0 %lu layer1 %lu layer2 %lu classifier %lu\n",
                   per_hop(kernel_ticks[0], cal, KERNEL_CALLS), per_hop(kernel_ticks[1], cal, KERNEL_CALLS),
                   per_hop(kernel_ticks[2], cal, KERNEL_CALLS), per_hop(kernel_ticks[3], cal, KERNEL_CALLS));
    }
    return same && fired == found ? 0 : 1;
}
