/* Fuzz target: the MFCC front end (kws_frontend.h) on any audio cut into any chunks.
 *
 * Input: byte 0 = number of chunk sizes that follow (mod 16), then those sizes (one byte each, cycled; 0 is
 * an empty push, 200 and up stand for long chunks), then int16 little-endian samples.
 * Checked: the push contract (return value, *consumed), the number of frames, every streamed frame equal to
 * kws_frontend_frame on its own window, every debug stage within the ranges the code's comments rely on
 * (power < 2^52, mel < 2^61, 0 <= log_mel < 2^12) and equal to the stage entry points, reset, bad args. */
#include <string.h>

#include "fuzz_input.h"
#include "kws_frontend.h"
#include "kws_stages.h"

#define MAX_CHUNK_SIZES 16

static int chunk_size(uint8_t code)
{
    return code < 200 ? code : (code - 199) * 97;
}

static void check_frame(const int16_t *window, const int8_t streamed[KWS_NUM_MFCC])
{
    static kws_frontend_debug_t dbg; /* 8 KB: off the stack */
    int8_t direct[KWS_NUM_MFCC], again[KWS_NUM_MFCC];
    int64_t mel[KWS_NUM_MEL];
    int32_t cep[KWS_NUM_MFCC];
    int i;

    kws_frontend_frame(window, direct, NULL);
    FUZZ_CHECK(memcmp(direct, streamed, sizeof(direct)) == 0);
    kws_frontend_frame(window, again, &dbg);
    FUZZ_CHECK(memcmp(direct, again, sizeof(direct)) == 0);
    for (i = 0; i < KWS_FFT_BINS; ++i) {
        FUZZ_CHECK(dbg.power[i] >= 0 && dbg.power[i] < ((int64_t)1 << 52));
        FUZZ_CHECK(dbg.power[i] == (int64_t)dbg.fft_re[i] * dbg.fft_re[i] + (int64_t)dbg.fft_im[i] * dbg.fft_im[i]);
    }
    kws_stage_mel(dbg.power, mel);
    for (i = 0; i < KWS_NUM_MEL; ++i) {
        FUZZ_CHECK(mel[i] == dbg.mel[i] && mel[i] >= 0 && mel[i] < ((int64_t)1 << 61));
        FUZZ_CHECK(dbg.log_mel[i] >= 0 && dbg.log_mel[i] < (1 << 12));
        FUZZ_CHECK(kws_stage_log2(mel[i]) == dbg.log_mel[i]);
    }
    kws_stage_dct(dbg.log_mel, cep);
    for (i = 0; i < KWS_NUM_MFCC; ++i) {
        FUZZ_CHECK(cep[i] == dbg.cepstra[i] && kws_stage_quantize(cep[i], i) == direct[i]);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static kws_frontend_t s;
    static int16_t audio[1 << 16];
    fuzz_input_t in = {data, size};
    uint8_t sizes[MAX_CHUNK_SIZES];
    const int num_sizes = fuzz_u8(&in) % MAX_CHUNK_SIZES;
    int8_t frame[KWS_NUM_MFCC], first[KWS_NUM_MFCC];
    int i, n = 0, pos = 0, frames = 0, consumed = -1, expected;

    for (i = 0; i < num_sizes; ++i) {
        sizes[i] = fuzz_u8(&in);
    }
    while (in.left >= 2 && n < (int)(sizeof(audio) / sizeof(audio[0]))) {
        audio[n++] = fuzz_i16(&in);
    }

    kws_frontend_init(&s);
    for (i = 0; pos < n || i == 0; ++i) {
        int len = num_sizes > 0 ? chunk_size(sizes[i % num_sizes]) : n;
        len = len == 0 && i >= num_sizes ? 1 : len; /* empty pushes in the first round only: always ends */
        len = len > n - pos ? n - pos : len;
        /* One chunk may complete several frames: call again with the rest until it is used up. */
        for (;;) {
            const int r = kws_frontend_push(&s, audio + pos, len, &consumed, frame);
            FUZZ_CHECK(r == 0 || r == 1);
            FUZZ_CHECK(consumed >= 0 && consumed <= len);
            pos += consumed;
            len -= consumed;
            if (r == 0) {
                FUZZ_CHECK(len == 0);
                break;
            }
            FUZZ_CHECK(pos == KWS_WINDOW_SAMPLES + frames * KWS_HOP_SAMPLES); /* a frame ends its window */
            check_frame(audio + frames * KWS_HOP_SAMPLES, frame);
            if (frames == 0) {
                memcpy(first, frame, sizeof(first));
            }
            ++frames;
        }
        if (num_sizes == 0) {
            break;
        }
    }
    expected = n >= KWS_WINDOW_SAMPLES ? (n - KWS_WINDOW_SAMPLES) / KWS_HOP_SAMPLES + 1 : 0;
    FUZZ_CHECK(pos == n && frames == expected && s.frames == (uint32_t)frames);

    /* Reset gives the first frame again, from one push of exactly one window. */
    if (frames > 0) {
        kws_frontend_init(&s);
        FUZZ_CHECK(kws_frontend_push(&s, audio, KWS_WINDOW_SAMPLES, &consumed, frame) == 1);
        FUZZ_CHECK(consumed == KWS_WINDOW_SAMPLES && memcmp(frame, first, sizeof(first)) == 0);
    }
    FUZZ_CHECK(kws_frontend_push(NULL, audio, 1, &consumed, frame) == KWS_ERR_ARG && consumed == 0);
    FUZZ_CHECK(kws_frontend_push(&s, audio, -1, &consumed, frame) == KWS_ERR_ARG && consumed == 0);
    FUZZ_CHECK(kws_frontend_push(&s, NULL, 1, &consumed, frame) == KWS_ERR_ARG);
    FUZZ_CHECK(kws_frontend_push(&s, NULL, 0, &consumed, frame) == 0 && consumed == 0);
    return 0;
}
