/* Instructions per frame of the front end. On the host, run under callgrind (`make bench`) and read the
 * inclusive count of kws_frontend_frame. On mps2-an386, run under QEMU with -icount shift=0 (one instruction
 * per virtual nanosecond): the SysTick ticks of the frames are converted to instructions with a calibration
 * loop of known length, so the result does not depend on the board's clock. */
#include <stdint.h>

#include "kws_board.h"
#include "kws_fft.h"
#include "kws_frontend.h"
#include "kws_test_util.h"

#define REPEATS 4

static int16_t g_audio[KWS_CLIP_SAMPLES];
static kws_frontend_t g_state;

/* Separate functions so callgrind can attribute instructions to each part (noinline: see the call graph). */
__attribute__((noinline)) static uint32_t bench_frames(void)
{
    int8_t out[KWS_NUM_MFCC];
    uint32_t checksum = 0;
    int r, f;
    for (r = 0; r < REPEATS; ++r) {
        for (f = 0; f < KWS_FRAMES_PER_CLIP; ++f) {
            kws_frontend_frame(g_audio + f * KWS_HOP_SAMPLES, out, NULL);
            checksum = checksum * 31u + (uint8_t)out[f % KWS_NUM_MFCC];
        }
    }
    return checksum;
}

/* The streaming path on hop-sized chunks: frames plus the sample copies of kws_frontend_push. */
__attribute__((noinline)) static int bench_push(void)
{
    int8_t out[KWS_NUM_MFCC];
    int r, frames = 0;
    for (r = 0; r < REPEATS; ++r) {
        int pos = 0, consumed;
        kws_frontend_init(&g_state);
        while (pos < KWS_CLIP_SAMPLES) {
            const int n = KWS_CLIP_SAMPLES - pos < KWS_HOP_SAMPLES ? KWS_CLIP_SAMPLES - pos : KWS_HOP_SAMPLES;
            frames += kws_frontend_push(&g_state, g_audio + pos, n, &consumed, out) == 1;
            pos += consumed;
        }
    }
    return frames;
}

/* The FFT stages alone (internal API), to split the per-frame count: ticks of forward, then of power. */
__attribute__((noinline)) static void bench_fft(uint32_t *forward_ticks, uint32_t *power_ticks)
{
    static kws_fft_buf_t buf;
    int r, f;
    *forward_ticks = 0;
    *power_ticks = 0;
    for (r = 0; r < REPEATS; ++r) {
        for (f = 0; f < KWS_FRAMES_PER_CLIP; ++f) {
            kws_board_timer_start();
            kws_fft_forward(g_audio + f * KWS_HOP_SAMPLES, &buf);
            *forward_ticks += kws_board_timer_read();
            kws_board_timer_start();
            kws_fft_power(&buf, 0, 0);
            *power_ticks += kws_board_timer_read();
        }
    }
}

int main(void)
{
    const int total = REPEATS * KWS_FRAMES_PER_CLIP;
    uint32_t seed = 2024u, cal_ticks, frame_ticks, push_ticks, forward_ticks, power_ticks, checksum;
    int32_t walk = 0;
    int i, pushed;

    /* Speech-like level: a leaky random walk plus noise, so the spectrum is neither flat nor silent. */
    for (i = 0; i < KWS_CLIP_SAMPLES; ++i) {
        walk += (int32_t)(kws_rand(&seed) % 2001u) - 1000;
        walk -= walk / 64;
        g_audio[i] = (int16_t)(walk + (int32_t)(kws_rand(&seed) % 801u) - 400);
    }

    cal_ticks = kws_calibration_ticks();
    kws_board_timer_start();
    checksum = bench_frames();
    frame_ticks = kws_board_timer_read();
    kws_board_timer_start();
    pushed = bench_push();
    push_ticks = kws_board_timer_read();
    bench_fft(&forward_ticks, &power_ticks);

    kws_printf("bench: %d frames total (%d repeats), checksum %u, pushed frames %d\n", total, REPEATS,
               (unsigned)checksum, pushed);
    if (cal_ticks != 0) {
        const uint64_t cal_instr = KWS_CALIBRATION_INSTRUCTIONS;
        kws_printf("instructions per frame: kws_frontend_frame %lu, kws_frontend_push (hop-sized chunks) %lu\n",
                   (unsigned long)((uint64_t)frame_ticks * cal_instr / cal_ticks / (uint64_t)total),
                   (unsigned long)((uint64_t)push_ticks * cal_instr / cal_ticks / (uint64_t)total));
        kws_printf("of which window + complex FFT %lu, split + power %lu, mel + log + DCT + int8 the rest\n",
                   (unsigned long)((uint64_t)forward_ticks * cal_instr / cal_ticks / (uint64_t)total),
                   (unsigned long)((uint64_t)power_ticks * cal_instr / cal_ticks / (uint64_t)total));
        kws_printf("(ticks: calibration %u for %lu instructions, frames %u, push %u)\n", (unsigned)cal_ticks,
                   (unsigned long)cal_instr, (unsigned)frame_ticks, (unsigned)push_ticks);
    }
    return pushed == total ? 0 : 1;
}
