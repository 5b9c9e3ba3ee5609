/* Golden test of the C front end: every stage of every golden clip must equal the Python front end's output
 * (tests/golden/frontend/<hash>/, written by `tinykws features golden`) exactly; streaming with any chunking
 * must give the frames of the whole clip; reset and short input behave as in features/streaming.py.
 * Runs on the host and, through semihosting, on the board. Last line: "N passed, M failed". */
#include <stdint.h>

#include "golden_index.h"
#include "kws_board.h"
#include "kws_frontend.h"
#include "kws_test_util.h"

enum { ST_AUDIO, ST_WINDOWED, ST_FFT_RE, ST_FFT_IM, ST_POWER, ST_MEL, ST_LOG_MEL, ST_CEPSTRA, ST_FEATURES };

#define MAX_FRAMES KWS_GOLDEN_MAX_FRAMES
#define MAX_STREAM_FRAMES (MAX_FRAMES + 1)
#define PATH_CAP 1024

/* One clip's audio and stored stages, little-endian files read as they are (checked: little-endian CPU). */
static int16_t g_audio[KWS_GOLDEN_MAX_SAMPLES];
static uint8_t g_wav[KWS_GOLDEN_WAV_HEADER_BYTES + 2 * KWS_GOLDEN_MAX_SAMPLES];
static int32_t g_windowed[MAX_FRAMES * KWS_WINDOW_SAMPLES];
static int32_t g_fft_re[MAX_FRAMES * KWS_FFT_BINS];
static int32_t g_fft_im[MAX_FRAMES * KWS_FFT_BINS];
static int64_t g_power[MAX_FRAMES * KWS_FFT_BINS];
static int64_t g_mel[MAX_FRAMES * KWS_NUM_MEL];
static int16_t g_log_mel[MAX_FRAMES * KWS_NUM_MEL];
static int32_t g_cepstra[MAX_FRAMES * KWS_NUM_MFCC];
static int8_t g_features[MAX_FRAMES * KWS_NUM_MFCC];
static int8_t g_stream[MAX_STREAM_FRAMES * KWS_NUM_MFCC];
static kws_frontend_debug_t g_dbg;
static kws_frontend_t g_state;

typedef struct {
    void *golden;
    int elem; /* bytes per element */
    int width; /* elements per frame */
} stage_t;

static const stage_t g_stages[KWS_GOLDEN_NUM_STAGES] = {
    {g_audio, 2, 0},
    {g_windowed, 4, KWS_WINDOW_SAMPLES},
    {g_fft_re, 4, KWS_FFT_BINS},
    {g_fft_im, 4, KWS_FFT_BINS},
    {g_power, 8, KWS_FFT_BINS},
    {g_mel, 8, KWS_NUM_MEL},
    {g_log_mel, 2, KWS_NUM_MEL},
    {g_cepstra, 4, KWS_NUM_MFCC},
    {g_features, 1, KWS_NUM_MFCC},
};

static int g_passed, g_failed;

static void record(int ok, const char *what, const char *clip)
{
    if (ok) {
        ++g_passed;
    } else {
        ++g_failed;
        kws_printf("FAIL %s (%s)\n", what, clip);
    }
}

static int64_t element(const void *p, int elem, int i)
{
    switch (elem) {
    case 1:
        return ((const int8_t *)p)[i];
    case 2:
        return ((const int16_t *)p)[i];
    case 4:
        return ((const int32_t *)p)[i];
    default:
        return ((const int64_t *)p)[i];
    }
}

/* The C side of a stage for the frame just computed. */
static const void *computed(int stage, const int8_t *features)
{
    switch (stage) {
    case ST_WINDOWED:
        return g_dbg.windowed;
    case ST_FFT_RE:
        return g_dbg.fft_re;
    case ST_FFT_IM:
        return g_dbg.fft_im;
    case ST_POWER:
        return g_dbg.power;
    case ST_MEL:
        return g_dbg.mel;
    case ST_LOG_MEL:
        return g_dbg.log_mel;
    case ST_CEPSTRA:
        return g_dbg.cepstra;
    default:
        return features;
    }
}

static int frames_for(int samples)
{
    return samples < KWS_WINDOW_SAMPLES ? 0 : 1 + (samples - KWS_WINDOW_SAMPLES) / KWS_HOP_SAMPLES;
}

static int load_audio(const kws_golden_clip_t *clip)
{
    char path[PATH_CAP];
    long i, size;

    if (clip->wav == NULL) {
        kws_concat(path, PATH_CAP, KWS_GOLDEN_DIR "/", clip->name, ".audio.bin");
        return kws_board_read_file(path, g_audio, (long)sizeof(g_audio)) == 2L * clip->samples;
    }
    kws_concat(path, PATH_CAP, KWS_GOLDEN_SHARED_DIR "/", clip->wav, "");
    size = kws_board_read_file(path, g_wav, (long)sizeof(g_wav));
    if (size != KWS_GOLDEN_WAV_HEADER_BYTES + 2L * clip->samples || g_wav[0] != 'R' || g_wav[36] != 'd') {
        kws_printf("cannot read %s as a %d-byte-header int16 WAV of %d samples\n", path,
                   KWS_GOLDEN_WAV_HEADER_BYTES, (int)clip->samples);
        return 0;
    }
    for (i = 0; i < clip->samples; ++i) {
        const uint8_t *b = g_wav + KWS_GOLDEN_WAV_HEADER_BYTES + 2 * i;
        const int32_t v = (int32_t)b[0] | ((int32_t)b[1] << 8);
        g_audio[i] = (int16_t)(v >= 0x8000 ? v - 0x10000 : v);
    }
    return 1;
}

static int load_stage(const kws_golden_clip_t *clip, int stage)
{
    char path[PATH_CAP];
    const long want = (long)g_stages[stage].elem * g_stages[stage].width * clip->frames;
    kws_concat(path, PATH_CAP, KWS_GOLDEN_DIR "/", clip->name, ".");
    kws_concat(path, PATH_CAP, path, kws_golden_stage_names[stage], ".bin");
    if (kws_board_read_file(path, g_stages[stage].golden, want) != want) {
        kws_printf("cannot read %s (%ld bytes expected)\n", path, want);
        return 0;
    }
    return 1;
}

/* Every stored stage of every frame; prints the first mismatch of each stage. */
static void test_golden_clip(const kws_golden_clip_t *clip)
{
    int mismatch[KWS_GOLDEN_NUM_STAGES] = {0};
    int8_t out[KWS_NUM_MFCC];
    int stage, f, i;

    if (!load_audio(clip)) {
        record(0, "golden audio", clip->name);
        return;
    }
    record(frames_for(clip->samples) == clip->frames, "golden frame count", clip->name);
    for (stage = ST_WINDOWED; stage < KWS_GOLDEN_NUM_STAGES; ++stage) {
        if ((clip->stages & (1u << stage)) && !load_stage(clip, stage)) {
            record(0, "golden stage file", clip->name);
            return;
        }
    }
    for (f = 0; f < clip->frames; ++f) {
        kws_frontend_frame(g_audio + f * KWS_HOP_SAMPLES, out, &g_dbg);
        for (stage = ST_WINDOWED; stage < KWS_GOLDEN_NUM_STAGES; ++stage) {
            const stage_t *st = &g_stages[stage];
            const void *got = computed(stage, out);
            if (!(clip->stages & (1u << stage)) || mismatch[stage]) {
                continue;
            }
            for (i = 0; i < st->width; ++i) {
                const int64_t g = element(got, st->elem, i);
                const int64_t w = element(st->golden, st->elem, f * st->width + i);
                if (g != w) {
                    kws_printf("MISMATCH clip=%s stage=%s frame=%d index=%d got=%lld want=%lld\n", clip->name,
                               kws_golden_stage_names[stage], f, i, (long long)g, (long long)w);
                    mismatch[stage] = 1;
                    break;
                }
            }
        }
    }
    for (stage = ST_WINDOWED; stage < KWS_GOLDEN_NUM_STAGES; ++stage) {
        if (clip->stages & (1u << stage)) {
            char what[64];
            kws_concat(what, (int)sizeof(what), "golden ", kws_golden_stage_names[stage], "");
            record(!mismatch[stage], what, clip->name);
        }
    }
}

/* Feed audio in chunks (chunk > 0: fixed size; chunk == 0: random sizes 1 .. 2 windows), looping on push
 * like a caller would. Returns the number of frames written to g_stream, or -1 if push broke its contract. */
static int stream(const int16_t *audio, int n, int chunk, uint32_t seed)
{
    int pos = 0, frames = 0;
    while (pos < n) {
        int size = chunk > 0 ? chunk : 1 + (int)(kws_rand(&seed) % (2u * KWS_WINDOW_SAMPLES));
        int off = 0;
        if (size > n - pos) {
            size = n - pos;
        }
        for (;;) {
            int consumed = -1;
            int r;
            if (frames >= MAX_STREAM_FRAMES) { /* more frames than the clip has: stop before overflowing */
                return -1;
            }
            r = kws_frontend_push(&g_state, audio + pos + off, size - off, &consumed,
                                            g_stream + frames * KWS_NUM_MFCC);
            if (r < 0 || consumed < 0 || consumed > size - off || (r == 0 && consumed != size - off) ||
                (r == 1 && consumed == 0)) {
                return -1;
            }
            off += consumed;
            if (r == 0) {
                break;
            }
            ++frames;
        }
        pos += size;
    }
    return frames;
}

static int same_frames(const int8_t *a, const int8_t *b, int frames, const char *clip, int chunk)
{
    int i;
    for (i = 0; i < frames * KWS_NUM_MFCC; ++i) {
        if (a[i] != b[i]) {
            kws_printf("MISMATCH clip=%s chunk=%d frame=%d index=%d got=%d want=%d\n", clip, chunk,
                       i / KWS_NUM_MFCC, i % KWS_NUM_MFCC, a[i], b[i]);
            return 0;
        }
    }
    return 1;
}

/* Chunkings of the streaming contract; 0 = random sizes (three seeds). */
static const int g_chunks[] = {1, KWS_HOP_SAMPLES / 2, KWS_HOP_SAMPLES / 2 + 1, KWS_HOP_SAMPLES,
                               KWS_WINDOW_SAMPLES - 1, KWS_WINDOW_SAMPLES + 1, KWS_CLIP_SAMPLES, 0, 0, 0};

/* Uses the clip's audio and golden features still loaded by test_golden_clip. */
static void test_streaming_clip(const kws_golden_clip_t *clip)
{
    unsigned c;
    int frames;

    for (c = 0; c < sizeof(g_chunks) / sizeof(g_chunks[0]); ++c) {
        kws_frontend_init(&g_state);
        frames = stream(g_audio, clip->samples, g_chunks[c], 0x9E3779B9u + c);
        record(frames == clip->frames && g_state.frames == (uint32_t)frames &&
                   same_frames(g_stream, g_features, frames, clip->name, g_chunks[c]),
               "streaming == batch", clip->name);
    }
    /* Reset: after unrelated audio, init gives back exactly the frames of a fresh state. */
    kws_frontend_init(&g_state);
    stream(g_audio + clip->samples / 3, clip->samples - clip->samples / 3, KWS_HOP_SAMPLES / 2 + 1, 1u);
    kws_frontend_init(&g_state);
    frames = stream(g_audio, clip->samples, 0, 7u);
    record(frames == clip->frames && same_frames(g_stream, g_features, frames, clip->name, -1),
           "reset gives the first frames again", clip->name);
}

static void test_short_input_and_args(void)
{
    int16_t x[KWS_WINDOW_SAMPLES];
    int8_t out[KWS_NUM_MFCC], want[KWS_NUM_MFCC];
    int consumed = -1, i, r, ok = 1;
    uint32_t seed = 12345u;

    for (i = 0; i < KWS_WINDOW_SAMPLES; ++i) {
        x[i] = (int16_t)((int32_t)(kws_rand(&seed) & 0xFFFFu) - 0x8000);
    }
    kws_frontend_init(&g_state);
    for (i = 0; i < KWS_WINDOW_SAMPLES - 1; ++i) { /* one short of a window: no frame */
        r = kws_frontend_push(&g_state, x + i, 1, &consumed, out);
        ok = ok && r == 0 && consumed == 1;
    }
    record(ok && g_state.frames == 0, "window - 1 samples give no frame", "-");
    r = kws_frontend_push(&g_state, x + KWS_WINDOW_SAMPLES - 1, 1, &consumed, out);
    kws_frontend_frame(x, want, NULL);
    record(r == 1 && consumed == 1 && same_frames(out, want, 1, "push == frame", 1), "the window's last sample",
           "-");
    record(kws_frontend_push(&g_state, NULL, 0, &consumed, out) == 0 && consumed == 0, "empty push", "-");

    r = kws_frontend_push(NULL, x, 1, &consumed, out);
    record(r == KWS_ERR_ARG && consumed == 0, "NULL state", "-");
    record(kws_frontend_push(&g_state, NULL, 1, &consumed, out) == KWS_ERR_ARG, "NULL samples", "-");
    record(kws_frontend_push(&g_state, x, -1, &consumed, out) == KWS_ERR_ARG, "negative count", "-");
    record(kws_frontend_push(&g_state, x, 1, NULL, out) == KWS_ERR_ARG, "NULL consumed", "-");
    record(kws_frontend_push(&g_state, x, 1, &consumed, NULL) == KWS_ERR_ARG, "NULL out", "-");
    record(kws_frontend_state_size() == KWS_FRONTEND_STATE_BYTES &&
               kws_frontend_debug_size() == sizeof(kws_frontend_debug_t),
           "exported sizes", "-");
}

int main(void)
{
    const uint16_t probe = 1;
    int c;

    kws_printf("tinykws front end golden test, feature config %s\n", kws_frontend_feature_hash());
    record(*(const uint8_t *)&probe == 1, "little-endian CPU (golden files are little-endian)", "-");
    record(kws_streq(KWS_GOLDEN_FEATURE_HASH, KWS_FEATURE_HASH) &&
               kws_streq(kws_frontend_feature_hash(), KWS_FEATURE_HASH),
           "golden vectors and library share the feature hash", KWS_GOLDEN_FEATURE_HASH);
    for (c = 0; c < KWS_GOLDEN_NUM_CLIPS; ++c) {
        const int before = g_failed;
        test_golden_clip(&kws_golden_clips[c]);
        if (g_failed == before) {
            test_streaming_clip(&kws_golden_clips[c]);
        }
    }
    test_short_input_and_args();
    kws_printf("%d passed, %d failed\n", g_passed, g_failed);
    return g_failed == 0 ? 0 : 1;
}
