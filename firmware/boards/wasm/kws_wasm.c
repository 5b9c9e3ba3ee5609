/* The browser as a board: the engine compiled to WebAssembly (clang --target=wasm32, wasm-ld, no C library,
 * no malloc), driven from JavaScript (deploy/web/kws.js). This file is the caller that owns the engine's
 * state, as the device app does: one engine per module instance, in the module's memory, with its input and
 * output buffers beside it. JavaScript writes samples into kws_wasm_input(), calls kws_wasm_process(n), and
 * reads the detections and every hop's logits and smoothed sums from the arrays whose addresses the other
 * exports return. Numbers are the host's and the board's: the same C, the same integers.
 *
 *   kws_wasm_init()                 reset (also the first init): KWS_OK, or KWS_ERR_MODEL
 *   kws_wasm_input(), _capacity()   int16 samples the next kws_wasm_process call reads
 *   kws_wasm_process(n)             kws_process on the first n of them; returns the detections it completed
 *   kws_wasm_detections()           kws_detection_t[] {hop, keyword, score_sum} of that call
 *   kws_wasm_hop_count()            hops that call completed; per hop i: kws_wasm_hop_index()[i],
 *                                   _hop_logits()[i * classes + k] (int8, valid if _hop_flags()[i] & 1),
 *                                   _hop_sums()[i * classes + k] (int32, valid if _hop_flags()[i] & 2)
 *   kws_wasm_info(KWS_WASM_...)     model and front-end constants; kws_wasm_label(k), kws_wasm_model_id()
 */
#include <stdint.h>
#include <string.h>

#include "kws_engine.h"

#define KWS_WASM_EXPORT(name) __attribute__((export_name(#name)))

/* One second of audio per call: the page pushes far less (a worklet block), a WAV goes in 1 s pieces. */
#define INPUT_SAMPLES KWS_SAMPLE_RATE
#define MAX_HOPS (INPUT_SAMPLES / KWS_HOP_SAMPLES + 2) /* + the pending window's hop, + rounding */

#define HOP_HAS_LOGITS 1
#define HOP_HAS_SUMS 2

/* kws_wasm_info keys (kws.js names them in the same order). */
enum {
    KWS_WASM_SAMPLE_RATE,
    KWS_WASM_HOP_SAMPLES,
    KWS_WASM_WINDOW_SAMPLES,
    KWS_WASM_NUM_CLASSES,
    KWS_WASM_SMOOTHING_HOPS,
    KWS_WASM_THRESHOLD,
    KWS_WASM_REFRACTORY_HOPS,
    KWS_WASM_INPUT_FRAMES,
    KWS_WASM_WEIGHT_BYTES,
    KWS_WASM_MACS_PER_HOP,
    KWS_WASM_STATE_BYTES,
    KWS_WASM_INPUT_CAPACITY,
    KWS_WASM_INFO_KEYS
};

static kws_engine_t g_engine;
static int16_t g_input[INPUT_SAMPLES];
static kws_detection_t g_detections[MAX_HOPS];
static int32_t g_hop_count;
static uint32_t g_hop_index[MAX_HOPS];
static int32_t g_hop_flags[MAX_HOPS];
static int8_t g_hop_logits[MAX_HOPS][KWS_MODEL_NUM_CLASSES];
static int32_t g_hop_sums[MAX_HOPS][KWS_MODEL_NUM_CLASSES];

static void record_hop(void *user, const kws_hop_t *hop)
{
    const int32_t i = g_hop_count;
    (void)user;
    if (i >= MAX_HOPS) {
        return; /* cannot happen: kws_wasm_process takes at most INPUT_SAMPLES */
    }
    g_hop_index[i] = hop->hop;
    g_hop_flags[i] = (hop->logits != NULL ? HOP_HAS_LOGITS : 0) | (hop->sums != NULL ? HOP_HAS_SUMS : 0);
    if (hop->logits != NULL) {
        memcpy(g_hop_logits[i], hop->logits, sizeof(g_hop_logits[i]));
    }
    if (hop->sums != NULL) {
        memcpy(g_hop_sums[i], hop->sums, sizeof(g_hop_sums[i]));
    }
    g_hop_count = i + 1;
}

KWS_WASM_EXPORT(kws_wasm_init) int kws_wasm_init(void);
int kws_wasm_init(void)
{
    const int r = kws_engine_init(&g_engine);
    g_hop_count = 0;
    if (r == KWS_OK) {
        kws_engine_set_hop_callback(&g_engine, record_hop, NULL);
    }
    return r;
}

KWS_WASM_EXPORT(kws_wasm_input) int16_t *kws_wasm_input(void);
int16_t *kws_wasm_input(void)
{
    return g_input;
}

KWS_WASM_EXPORT(kws_wasm_process) int kws_wasm_process(int n);
int kws_wasm_process(int n)
{
    g_hop_count = 0;
    if (n < 0 || n > INPUT_SAMPLES) {
        return KWS_ERR_ARG;
    }
    return kws_process(&g_engine, g_input, n, g_detections, MAX_HOPS);
}

KWS_WASM_EXPORT(kws_wasm_detections) const kws_detection_t *kws_wasm_detections(void);
const kws_detection_t *kws_wasm_detections(void)
{
    return g_detections;
}

KWS_WASM_EXPORT(kws_wasm_hop_count) int kws_wasm_hop_count(void);
int kws_wasm_hop_count(void)
{
    return g_hop_count;
}

KWS_WASM_EXPORT(kws_wasm_hop_index) const uint32_t *kws_wasm_hop_index(void);
const uint32_t *kws_wasm_hop_index(void)
{
    return g_hop_index;
}

KWS_WASM_EXPORT(kws_wasm_hop_flags) const int32_t *kws_wasm_hop_flags(void);
const int32_t *kws_wasm_hop_flags(void)
{
    return g_hop_flags;
}

KWS_WASM_EXPORT(kws_wasm_hop_logits) const int8_t *kws_wasm_hop_logits(void);
const int8_t *kws_wasm_hop_logits(void)
{
    return &g_hop_logits[0][0];
}

KWS_WASM_EXPORT(kws_wasm_hop_sums) const int32_t *kws_wasm_hop_sums(void);
const int32_t *kws_wasm_hop_sums(void)
{
    return &g_hop_sums[0][0];
}

KWS_WASM_EXPORT(kws_wasm_info) int32_t kws_wasm_info(int key);
int32_t kws_wasm_info(int key)
{
    static const int32_t values[KWS_WASM_INFO_KEYS] = {
        KWS_SAMPLE_RATE,
        KWS_HOP_SAMPLES,
        KWS_WINDOW_SAMPLES,
        KWS_MODEL_NUM_CLASSES,
        KWS_DETECTOR_SMOOTHING_HOPS,
        KWS_DETECTOR_THRESHOLD,
        KWS_DETECTOR_REFRACTORY_HOPS,
        KWS_MODEL_INPUT_FRAMES,
        KWS_MODEL_WEIGHT_BYTES,
        KWS_MODEL_MACS_PER_HOP,
        (int32_t)sizeof(kws_engine_t),
        INPUT_SAMPLES,
    };
    return key >= 0 && key < KWS_WASM_INFO_KEYS ? values[key] : -1;
}

/* Class k's label and keyword flag, NULL / -1 outside the model's classes. */
KWS_WASM_EXPORT(kws_wasm_label) const char *kws_wasm_label(int k);
const char *kws_wasm_label(int k)
{
    return k >= 0 && k < KWS_MODEL_NUM_CLASSES ? kws_model.labels[k] : NULL;
}

KWS_WASM_EXPORT(kws_wasm_is_keyword) int kws_wasm_is_keyword(int k);
int kws_wasm_is_keyword(int k)
{
    return k >= 0 && k < KWS_MODEL_NUM_CLASSES ? kws_model.keywords[k] : -1;
}

KWS_WASM_EXPORT(kws_wasm_model_id) const char *kws_wasm_model_id(void);
const char *kws_wasm_model_id(void)
{
    return kws_model.model_id;
}

KWS_WASM_EXPORT(kws_wasm_feature_hash) const char *kws_wasm_feature_hash(void);
const char *kws_wasm_feature_hash(void)
{
    return kws_model.feature_hash;
}
