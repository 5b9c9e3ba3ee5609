/* Golden test of the int8 network against tests/golden/network/<version>/ (written by Python,
 * deploy/golden_network.py): for every case, every frame of every layer, the pooled frame and the logits
 * must be equal, (1) from the whole-window path over the same kernels and (2) from the streaming network,
 * whose newest output of layer i after input frame n is the window's frame n - (receptive field of i - 1).
 * Then a longer stream: the logits of every hop equal IntModel.run on the window ending there; init resets.
 * The first mismatch of a check is printed. Runs on the host and, through semihosting, on the board.
 * Last line: "N passed, M failed". */
#include <stdint.h>

#include "golden_net_index.h"
#include "kws_board.h"
#include "kws_kernels.h"
#include "kws_network.h"
#include "kws_network_window.h"
#include "kws_test_util.h"

#define PATH_CAP 1024
#define CHANNEL_CAP 256 /* channels of any layer */
#define LAYER_CAP (KWS_MODEL_INPUT_FRAMES * CHANNEL_CAP)

static int8_t g_input[KWS_GOLDEN_NET_STREAM_FRAMES * KWS_MODEL_INPUT_CHANNELS];
static int8_t g_want[KWS_MODEL_NUM_LAYERS][LAYER_CAP];
static int8_t g_got[KWS_MODEL_NUM_LAYERS][LAYER_CAP];
static int8_t g_want_pooled[CHANNEL_CAP], g_got_pooled[CHANNEL_CAP];
static int8_t g_want_logits[KWS_GOLDEN_NET_STREAM_HOPS * KWS_MODEL_NUM_CLASSES];
static int8_t g_got_logits[KWS_MODEL_NUM_CLASSES];
static uint32_t g_scratch[KWS_MODEL_SCRATCH_WORDS];
static kws_network_t g_net;
static int g_passed, g_failed;

static void record(int ok, const char *what, const char *name)
{
    if (ok) {
        ++g_passed;
    } else {
        ++g_failed;
        kws_printf("FAIL %s (%s)\n", what, name);
    }
}

static int load(const char *name, const char *suffix, int8_t *buf, long bytes)
{
    char path[PATH_CAP];
    long size;
    kws_concat(path, PATH_CAP, KWS_GOLDEN_NET_DIR "/", name, suffix);
    size = kws_board_read_file(path, buf, bytes);
    if (size != bytes) {
        kws_printf("cannot read %ld bytes from %s (got %ld)\n", bytes, path, size);
        return 0;
    }
    return 1;
}

/* 1 if equal; else print the first difference. n values of `width` channels per frame, the first is `frame`. */
static int same(const char *what, const char *name, int frame, int width, const int8_t *got, const int8_t *want,
                int n)
{
    int i;
    for (i = 0; i < n; ++i) {
        if (got[i] != want[i]) {
            kws_printf("mismatch %s (%s) frame %d channel %d: got %d, want %d\n", what, name, frame + i / width,
                       i % width, got[i], want[i]);
            return 0;
        }
    }
    return 1;
}

/* dst = a + decimal(i) + b */
static void indexed(char *dst, int cap, const char *a, int i, const char *b)
{
    char digits[12];
    int n = (int)sizeof(digits) - 1;
    digits[n] = '\0';
    do {
        digits[--n] = (char)('0' + i % 10);
        i /= 10;
    } while (i > 0 && n > 0);
    kws_concat(dst, cap, a, digits + n, b);
}

static int32_t receptive_field(int32_t layer)
{
    return KWS_MODEL_INPUT_FRAMES - kws_window_frames(&kws_model, layer) + 1;
}

static void check_case(const char *name)
{
    const kws_model_t *m = &kws_model;
    int8_t *outs[KWS_MODEL_NUM_LAYERS];
    char what[64];
    int32_t i, n;
    int ok = load(name, ".input.bin", g_input, (long)m->input_frames * m->input_channels);
    ok = ok && load(name, ".pooled.bin", g_want_pooled, m->pool_channels);
    ok = ok && load(name, ".logits.bin", g_want_logits, m->num_classes);
    for (i = 0; i < m->num_layers; ++i) {
        char suffix[32];
        indexed(suffix, (int)sizeof(suffix), ".layer", i, ".bin");
        ok = ok && load(name, suffix, g_want[i], (long)kws_window_frames(m, i) * m->layers[i].out_channels);
        outs[i] = g_got[i];
    }
    record(ok, "load golden files", name);
    if (!ok) {
        return;
    }

    /* (1) whole window, every frame of every layer */
    kws_network_window(m, g_input, outs, g_scratch, g_got_pooled, g_got_logits);
    for (i = 0; i < m->num_layers; ++i) {
        indexed(what, (int)sizeof(what), "window layer ", i, "");
        record(same(what, name, 0, m->layers[i].out_channels, g_got[i], g_want[i],
                    kws_window_frames(m, i) * m->layers[i].out_channels),
               what, name);
    }
    record(same("window pooled", name, 0, m->pool_channels, g_got_pooled, g_want_pooled, m->pool_channels),
           "window pooled", name);
    record(same("window logits", name, 0, m->num_classes, g_got_logits, g_want_logits, m->num_classes),
           "window logits", name);

    /* (2) streaming, each layer's newest frame after every input frame */
    record(kws_network_init(&g_net, m) == KWS_OK, "kws_network_init", name);
    for (n = 0; n < m->input_frames; ++n) {
        const int r = kws_network_push(&g_net, g_input + n * m->input_channels, g_got_logits);
        ok = r == (n == m->input_frames - 1 ? 1 : 0);
        for (i = 0; ok && i < m->num_layers; ++i) {
            const int32_t t = n - (receptive_field(i) - 1);
            const int32_t c = m->layers[i].out_channels;
            if (t >= 0) {
                indexed(what, (int)sizeof(what), "streaming layer ", i, "");
                ok = same(what, name, t, c, kws_network_output(&g_net, i), g_want[i] + t * c, c);
            }
        }
        if (!ok) {
            break;
        }
    }
    record(ok, "streaming layers", name);
    record(same("streaming pooled", name, 0, m->pool_channels, kws_network_output(&g_net, m->num_layers),
                g_want_pooled, m->pool_channels),
           "streaming pooled", name);
    record(same("streaming logits", name, 0, m->num_classes, g_got_logits, g_want_logits, m->num_classes),
           "streaming logits", name);
}

static void check_stream(void)
{
    const kws_model_t *m = &kws_model;
    int8_t first[KWS_MODEL_NUM_CLASSES];
    int32_t n, hops = 0;
    int ok = load("stream", ".input.bin", g_input, (long)KWS_GOLDEN_NET_STREAM_FRAMES * m->input_channels);
    ok = ok && load("stream", ".logits.bin", g_want_logits, (long)KWS_GOLDEN_NET_STREAM_HOPS * m->num_classes);
    record(ok, "load golden files", "stream");
    if (!ok) {
        return;
    }
    kws_network_init(&g_net, m);
    for (n = 0; n < KWS_GOLDEN_NET_STREAM_FRAMES && ok; ++n) {
        const int r = kws_network_push(&g_net, g_input + n * m->input_channels, g_got_logits);
        if (r == 1) {
            ok = same("stream logits", "stream", n, m->num_classes, g_got_logits,
                      g_want_logits + hops * m->num_classes, m->num_classes);
            ++hops;
        } else {
            ok = r == 0 && n < m->input_frames - 1;
        }
    }
    record(ok && hops == KWS_GOLDEN_NET_STREAM_HOPS, "logits at every hop", "stream");

    /* init is the reset: the first window's logits again, after any history */
    kws_network_init(&g_net, m);
    for (n = 0; n < m->input_frames; ++n) {
        kws_network_push(&g_net, g_input + n * m->input_channels, first);
    }
    record(same("after reset", "stream", m->input_frames - 1, m->num_classes, first, g_want_logits,
                m->num_classes),
           "reset", "stream");
}

int main(void)
{
    int c, i, fits = KWS_MODEL_POOL_CHANNELS <= CHANNEL_CAP;
    for (i = 0; i < KWS_MODEL_NUM_LAYERS; ++i) {
        fits = fits && kws_model.layers[i].out_channels <= CHANNEL_CAP;
    }
    kws_printf("network golden test: %s, model %s, %s kernels\n", KWS_GOLDEN_NET_DIR, KWS_MODEL_ID,
               kws_kernels_dsp() ? "SMLAD (DSP)" : "portable");
    record(fits, "buffer sizes", "model");
    if (!fits) {
        return 1;
    }
    for (c = 0; c < KWS_GOLDEN_NET_NUM_CASES; ++c) {
        check_case(kws_golden_net_cases[c]);
    }
    check_stream();
    kws_printf("%d passed, %d failed\n", g_passed, g_failed);
    return g_failed != 0;
}
