/* Fuzz target: the engine (kws_engine.h): kws_engine_init, then kws_process with any chunking and any
 * detection buffer size.
 *
 * Input: byte 0 = times the audio is repeated (so short inputs reach the network's logits and the detector),
 * byte 1 = max_out of the chunked run (0 .. 4), byte 2 = number of chunk sizes (mod 16), those sizes (one
 * byte each, cycled; 0 is an empty call, 200 and up stand for long chunks), then int16 little-endian samples.
 * The same audio goes through the engine twice: in one kws_process call with room for every detection, and,
 * after a reset, in the fuzzer's chunks. Checked: both runs report the same hops (features, logits, smoothed
 * sums, class fired) through the hop callback; the detection counts add up; each chunk stores exactly its
 * first max_out detections, equal to the one-call run's; hops, logits and sums appear when they should;
 * detections match the callback (a keyword class, its smoothed sum); the argument checks. */
#include <string.h>

#include "fuzz_input.h"
#include "kws_engine.h"

#define MAX_SAMPLES 24000 /* 1.5 s: 74 hops, 26 of them with logits */
#define MAX_HOPS ((MAX_SAMPLES - KWS_WINDOW_SAMPLES) / KWS_HOP_SAMPLES + 1)
#define MAX_CHUNK_SIZES 16
#define MAX_OUT 4

typedef struct {
    uint32_t hop;
    int8_t features[KWS_NUM_MFCC];
    int8_t logits[KWS_MODEL_NUM_CLASSES];
    int32_t sums[KWS_MODEL_NUM_CLASSES];
    int has_logits, has_sums;
    int32_t keyword;
} record_t;

typedef struct {
    record_t hops[MAX_HOPS];
    int n;
} recording_t;

static void record_hop(void *user, const kws_hop_t *hop)
{
    recording_t *rec = user;
    record_t *r;
    FUZZ_CHECK(rec->n < MAX_HOPS);
    r = &rec->hops[rec->n++];
    memset(r, 0, sizeof(*r));
    r->hop = hop->hop;
    memcpy(r->features, hop->features, sizeof(r->features));
    r->has_logits = hop->logits != NULL;
    r->has_sums = hop->sums != NULL;
    if (hop->logits != NULL) {
        memcpy(r->logits, hop->logits, sizeof(r->logits));
    }
    if (hop->sums != NULL) {
        memcpy(r->sums, hop->sums, sizeof(r->sums));
    }
    r->keyword = hop->keyword;
}

static int chunk_size(uint8_t code)
{
    return code < 200 ? code : (code - 199) * 97;
}

static int same_detection(const kws_detection_t *a, const kws_detection_t *b)
{
    return a->hop == b->hop && a->keyword == b->keyword && a->score_sum == b->score_sum;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static kws_engine_t s;
    static int16_t audio[MAX_SAMPLES];
    static recording_t one, chunked;
    static kws_detection_t all[MAX_HOPS + 1];
    fuzz_input_t in = {data, size};
    const int repeats = 1 + fuzz_u8(&in), max_out = fuzz_u8(&in) % (MAX_OUT + 1);
    const int num_sizes = fuzz_u8(&in) % MAX_CHUNK_SIZES;
    uint8_t sizes[MAX_CHUNK_SIZES];
    kws_detection_t out[MAX_OUT];
    int i, n = 0, given, found, pos = 0, seen = 0, expected_hops;

    for (i = 0; i < num_sizes; ++i) {
        sizes[i] = fuzz_u8(&in);
    }
    while (in.left >= 2 && n < MAX_SAMPLES) {
        audio[n++] = fuzz_i16(&in);
    }
    given = n;
    while (given > 0 && n < MAX_SAMPLES && n < given * repeats) {
        audio[n] = audio[n - given];
        ++n;
    }

    FUZZ_CHECK(kws_engine_init(NULL) == KWS_ERR_ARG);
    FUZZ_CHECK(kws_engine_init(&s) == KWS_OK);
    one.n = 0;
    kws_engine_set_hop_callback(&s, record_hop, &one);
    found = kws_process(&s, audio, n, all, MAX_HOPS + 1);
    expected_hops = n >= KWS_WINDOW_SAMPLES ? (n - KWS_WINDOW_SAMPLES) / KWS_HOP_SAMPLES + 1 : 0;
    FUZZ_CHECK(found >= 0 && found <= MAX_HOPS && one.n == expected_hops && s.hops == (uint32_t)one.n);
    for (i = 0; i < one.n; ++i) {
        const record_t *r = &one.hops[i];
        FUZZ_CHECK(r->hop == (uint32_t)i);
        FUZZ_CHECK(r->has_logits == (i + 1 >= KWS_MODEL_INPUT_FRAMES));
        FUZZ_CHECK(r->has_sums == (i + 1 >= KWS_MODEL_INPUT_FRAMES + KWS_DETECTOR_SMOOTHING_HOPS - 1));
        if (r->keyword >= 0) {
            FUZZ_CHECK(seen < found && r->keyword < KWS_MODEL_NUM_CLASSES && kws_model.keywords[r->keyword]);
            FUZZ_CHECK(r->has_sums && r->sums[r->keyword] >= KWS_DETECTOR_THRESHOLD * KWS_DETECTOR_SMOOTHING_HOPS);
            FUZZ_CHECK(all[seen].hop == r->hop && all[seen].keyword == r->keyword);
            FUZZ_CHECK(all[seen].score_sum == r->sums[r->keyword]);
            ++seen;
        }
    }
    FUZZ_CHECK(seen == found);

    /* Reset, then the fuzzer's chunks with a small detection buffer. */
    FUZZ_CHECK(kws_engine_init(&s) == KWS_OK);
    chunked.n = 0;
    kws_engine_set_hop_callback(&s, record_hop, &chunked);
    seen = 0;
    for (i = 0; pos < n || i == 0; ++i) {
        int len = num_sizes > 0 ? chunk_size(sizes[i % num_sizes]) : n, got, k;
        len = len == 0 && i >= num_sizes ? 1 : len; /* empty calls in the first round only: always ends */
        len = len > n - pos ? n - pos : len;
        got = kws_process(&s, audio + pos, len, max_out > 0 ? out : NULL, max_out);
        FUZZ_CHECK(got >= 0 && seen + got <= found);
        for (k = 0; k < got && k < max_out; ++k) {
            FUZZ_CHECK(same_detection(&out[k], &all[seen + k]));
        }
        seen += got;
        pos += len;
        if (num_sizes == 0) {
            break;
        }
    }
    FUZZ_CHECK(seen == found && chunked.n == one.n);
    FUZZ_CHECK(memcmp(chunked.hops, one.hops, sizeof(record_t) * (size_t)one.n) == 0);

    FUZZ_CHECK(kws_process(NULL, audio, 1, out, MAX_OUT) == KWS_ERR_ARG);
    FUZZ_CHECK(kws_process(&s, audio, -1, out, MAX_OUT) == KWS_ERR_ARG);
    FUZZ_CHECK(kws_process(&s, NULL, 1, out, MAX_OUT) == KWS_ERR_ARG);
    FUZZ_CHECK(kws_process(&s, audio, 1, NULL, 1) == KWS_ERR_ARG);
    FUZZ_CHECK(kws_process(&s, audio, 1, out, -1) == KWS_ERR_ARG);
    FUZZ_CHECK(kws_process(&s, NULL, 0, NULL, 0) == 0);
    return 0;
}
