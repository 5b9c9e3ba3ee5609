/* Fuzz target: kws_network_init's model checks (kws_network.h: KWS_ERR_MODEL for a model that does not fit
 * this build's state or is malformed) on mutated copies of the compiled-in model's tables.
 *
 * Input: byte 0 = number of mutations (mod 16), each a pair (field, change): the field byte picks one of the
 * table's int32 fields (the model's sizes, each layer's and the classifier's kind / kernel / dilation /
 * channels / row bytes, each ring's offset / frames / stride), the change byte either adds (b & 0x7f) - 64
 * to it or, with its top bit set, replaces it by the next 4 bytes; then the feature frames.
 * Checked: init returns KWS_OK or KWS_ERR_MODEL without undefined behaviour, whatever the numbers; a table it
 * accepts has every ring inside the state, in order and apart. If the fields that size the weight arrays
 * are unchanged (the firmware cannot see an array's length, so a bigger layer over the same arrays is not
 * something it could refuse), the accepted network must also stream exactly what whole-window inference of
 * the mutated table computes, every layer, like a valid one. */
#include <string.h>

#include "fuzz_input.h"
#include "fuzz_window.h"
#include "kws_network.h"

#define LAYER_FIELDS 6
#define MAX_FIELDS (10 + LAYER_FIELDS * (KWS_MODEL_NUM_LAYERS + 1) + 3 * (KWS_MODEL_NUM_LAYERS + 1))
#define MAX_MUTATIONS 16
#define MAX_INPUT_FRAMES 1000

static kws_layer_t g_layers[KWS_MODEL_NUM_LAYERS];
static kws_ring_t g_rings[KWS_MODEL_NUM_LAYERS + 1];
static kws_layer_t g_classifier;
static kws_model_t g_model;
static int32_t *g_fields[MAX_FIELDS];

static int32_t add_layer_fields(kws_layer_t *l, int32_t n)
{
    g_fields[n++] = &l->kind;
    g_fields[n++] = &l->dilation;
    g_fields[n++] = &l->kernel;
    g_fields[n++] = &l->in_channels;
    g_fields[n++] = &l->out_channels;
    g_fields[n++] = &l->row_bytes;
    return n;
}

/* The fields that say how much of each weight array the kernels read. */
static int same_weight_shapes(const kws_layer_t *a, const kws_layer_t *b)
{
    return a->kernel == b->kernel && a->in_channels == b->in_channels && a->out_channels == b->out_channels &&
           a->row_bytes == b->row_bytes;
}

static int32_t copy_model(void)
{
    int32_t i, n = 0;
    memcpy(g_layers, kws_model.layers, sizeof(g_layers));
    memcpy(g_rings, kws_model.rings, sizeof(g_rings));
    g_classifier = *kws_model.classifier;
    g_model = kws_model;
    g_model.layers = g_layers;
    g_model.rings = g_rings;
    g_model.classifier = &g_classifier;
    g_fields[n++] = &g_model.num_layers;
    g_fields[n++] = &g_model.input_frames;
    g_fields[n++] = &g_model.input_channels;
    g_fields[n++] = &g_model.num_classes;
    g_fields[n++] = &g_model.pool_frames;
    g_fields[n++] = &g_model.pool_channels;
    g_fields[n++] = &g_model.pool_zero_point;
    g_fields[n++] = &g_model.ring_bytes;
    g_fields[n++] = &g_model.scratch_words;
    g_fields[n++] = &g_model.max_kernel;
    for (i = 0; i < KWS_MODEL_NUM_LAYERS; ++i) {
        n = add_layer_fields(&g_layers[i], n);
    }
    for (i = 0; i <= KWS_MODEL_NUM_LAYERS; ++i) {
        g_fields[n++] = &g_rings[i].offset;
        g_fields[n++] = &g_rings[i].frames;
        g_fields[n++] = &g_rings[i].stride;
    }
    n = add_layer_fields(&g_classifier, n);
    FUZZ_CHECK(n == MAX_FIELDS);
    return n;
}

/* What an accepted model must satisfy for the rings to stay inside kws_network_t's ring bytes, apart. */
static void check_geometry(const kws_model_t *m)
{
    int64_t end = 0;
    int32_t i;
    FUZZ_CHECK(m->num_layers == KWS_MODEL_NUM_LAYERS && m->input_channels == KWS_MODEL_INPUT_CHANNELS);
    FUZZ_CHECK(m->num_classes == KWS_MODEL_NUM_CLASSES && m->pool_channels <= KWS_MODEL_POOL_CHANNELS);
    FUZZ_CHECK(m->scratch_words <= KWS_MODEL_SCRATCH_WORDS && m->max_kernel <= KWS_MODEL_MAX_KERNEL);
    FUZZ_CHECK(m->pool_frames >= 1 && m->rings[m->num_layers].frames == m->pool_frames);
    for (i = 0; i <= m->num_layers; ++i) {
        const kws_ring_t *r = &m->rings[i];
        const int32_t width = i < m->num_layers ? m->layers[i].in_channels : m->pool_channels;
        FUZZ_CHECK(width >= 1 && r->frames >= 1 && r->stride >= width);
        FUZZ_CHECK(r->offset >= end); /* in order, apart from the previous ring */
        end = (int64_t)r->offset + (int64_t)r->frames * r->stride;
        FUZZ_CHECK(end <= KWS_MODEL_RING_BYTES);
        if (i < m->num_layers) {
            FUZZ_CHECK(m->layers[i].dilation >= 1 &&
                       (int64_t)(m->layers[i].kernel - 1) * m->layers[i].dilation + 1 == r->frames);
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static kws_network_t s;
    static int8_t frames[MAX_INPUT_FRAMES + 2][KWS_MODEL_INPUT_CHANNELS];
    fuzz_input_t in = {data, size};
    const int32_t num_fields = copy_model(), mutations = fuzz_u8(&in) % MAX_MUTATIONS;
    int8_t logits[KWS_MODEL_NUM_CLASSES];
    int32_t i, t, total, r;

    for (i = 0; i < mutations; ++i) {
        int32_t *field = g_fields[fuzz_u8(&in) % num_fields];
        const uint8_t change = fuzz_u8(&in);
        *field = change & 0x80 ? (int32_t)fuzz_u32(&in) : (int32_t)((uint32_t)*field + (change & 0x7fu) - 64u);
    }
    r = kws_network_init(&s, &g_model);
    FUZZ_CHECK(r == KWS_OK || r == KWS_ERR_MODEL);
    if (r != KWS_OK) {
        return 0;
    }
    check_geometry(&g_model);
    for (i = 0; i < KWS_MODEL_NUM_LAYERS; ++i) {
        if (!same_weight_shapes(&g_layers[i], &kws_model.layers[i])) {
            return 0;
        }
    }
    if (!same_weight_shapes(&g_classifier, kws_model.classifier) || g_model.input_frames > MAX_INPUT_FRAMES) {
        return 0; /* accepted and in bounds: bigger weight arrays, or a window too long to replay here */
    }
    total = g_model.input_frames + 2;
    for (t = 0; t < total; ++t) {
        for (i = 0; i < KWS_MODEL_INPUT_CHANNELS; ++i) {
            frames[t][i] = (int8_t)fuzz_u8(&in);
        }
        r = kws_network_push(&s, frames[t], logits);
        FUZZ_CHECK(r == (t + 1 >= g_model.input_frames));
        if (r == 1) {
            fuzz_check_window(&s, &g_model, &frames[0][0], t + 1);
        }
    }
    return 0;
}
