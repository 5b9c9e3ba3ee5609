/* Streaming int8 network: rings of past frames per layer, one output frame per layer per hop. */
#include "kws_network.h"

#include <string.h>

#include "kws_kernels.h"

size_t kws_network_state_size(void)
{
    return sizeof(kws_network_t);
}

static int8_t *ring_base(kws_network_t *s, int32_t r)
{
    return (int8_t *)s->rings + s->model->rings[r].offset;
}

/* Slot for a new frame of ring r: the oldest one, which no tap reaches any more. */
static int8_t *advance(kws_network_t *s, int32_t r)
{
    const kws_ring_t *ring = &s->model->rings[r];
    int32_t slot = s->newest[r] + 1;
    slot = slot == ring->frames ? 0 : slot;
    s->newest[r] = slot;
    return ring_base(s, r) + slot * ring->stride;
}

/* A ring of `frames` frames of `stride` >= width bytes from `offset`: after the previous ring (which ends at
 * `start`, so rings never overlap) and inside ring_bytes (>= 0). Compared by division: no product of a
 * malformed table's numbers can overflow, here or in the checks that use `frames` afterwards. */
static int ring_fits(const kws_ring_t *r, int32_t start, int32_t width, int32_t ring_bytes)
{
    return width >= 1 && r->offset >= start && r->stride >= width && r->frames >= 1 &&
           r->frames <= (ring_bytes - r->offset) / r->stride;
}

static int32_t ring_end(const kws_ring_t *r)
{
    return r->offset + r->frames * r->stride;
}

static int check_layer(const kws_layer_t *l, const kws_ring_t *ring, int32_t cin, int32_t max_kernel, int32_t start,
                       int32_t ring_bytes)
{
    int ok = l->in_channels == cin && ring_fits(ring, start, cin, ring_bytes);
    ok = ok && ring->stride % 4 == 0 && ring->offset % 4 == 0;
    ok = ok && l->kernel >= 1 && l->kernel <= max_kernel && l->dilation >= 1;
    /* dilation < frames before the product: it stays below max_kernel * frames */
    ok = ok && (l->kernel == 1 || l->dilation < ring->frames) && ring->frames == (l->kernel - 1) * l->dilation + 1;
    if (l->kind == KWS_LAYER_DEPTHWISE) {
        return ok && l->out_channels == l->in_channels && l->row_bytes == l->kernel;
    }
    return ok && l->kind == KWS_LAYER_CONV && l->row_bytes == (l->kernel * l->in_channels + 3) / 4 * 4;
}

/* The model must fit the arrays this file was compiled with (kws_model.h of the same export), its rings laid
 * out one after the other as the exporter does, and no field may make a check overflow. */
static int check_model(const kws_model_t *m)
{
    const kws_layer_t *cls = m->classifier;
    const kws_ring_t *pool;
    int32_t i, cin = m->input_channels, receptive = 1, start = 0, scratch = kws_conv_scratch_words(cls);

    if (m->num_layers != KWS_MODEL_NUM_LAYERS || m->num_classes != KWS_MODEL_NUM_CLASSES || m->ring_bytes < 0 ||
        m->ring_bytes > KWS_MODEL_RING_BYTES || m->scratch_words > KWS_MODEL_SCRATCH_WORDS ||
        m->pool_channels > KWS_MODEL_POOL_CHANNELS || m->max_kernel > KWS_MODEL_MAX_KERNEL) {
        return 0;
    }
    for (i = 0; i < m->num_layers; ++i) {
        const kws_layer_t *l = &m->layers[i];
        if (!check_layer(l, &m->rings[i], cin, m->max_kernel, start, m->ring_bytes)) {
            return 0;
        }
        start = ring_end(&m->rings[i]);
        if (l->kind == KWS_LAYER_CONV && kws_conv_scratch_words(l) > scratch) {
            scratch = kws_conv_scratch_words(l);
        }
        receptive += (l->kernel - 1) * l->dilation;
        cin = l->out_channels;
    }
    pool = &m->rings[m->num_layers];
    if (!ring_fits(pool, start, cin, m->ring_bytes) || cin != m->pool_channels || pool->frames != m->pool_frames ||
        m->input_frames != receptive + m->pool_frames - 1) {
        return 0;
    }
    return cls->kind == KWS_LAYER_CONV && cls->kernel == 1 && cls->in_channels == cin && cin % 4 == 0 &&
           cls->row_bytes == cin && cls->out_channels == m->num_classes && scratch <= m->scratch_words;
}

int kws_network_init(kws_network_t *s, const kws_model_t *model)
{
    int32_t i;
    if (s == NULL || model == NULL) {
        return KWS_ERR_ARG;
    }
    memset(s, 0, sizeof(*s));
    if (!check_model(model)) {
        return KWS_ERR_MODEL;
    }
    s->model = model;
    /* "newest" = the last slot, so the first frame lands in slot 0. */
    for (i = 0; i <= model->num_layers; ++i) {
        s->newest[i] = model->rings[i].frames - 1;
    }
    return KWS_OK;
}

/* Tap k of layer i: the input frame (kernel - 1 - k) * dilation frames before the newest. */
static void gather_taps(kws_network_t *s, int32_t i, const int8_t **taps)
{
    const kws_layer_t *l = &s->model->layers[i];
    const kws_ring_t *ring = &s->model->rings[i];
    const int8_t *base = ring_base(s, i);
    int32_t k, slot = s->newest[i];
    for (k = l->kernel - 1; k >= 0; --k) {
        taps[k] = base + slot * ring->stride;
        slot -= l->dilation;
        slot = slot < 0 ? slot + ring->frames : slot;
    }
}

int kws_network_push(kws_network_t *s, const int8_t *frame, int8_t *logits)
{
    const kws_model_t *m;
    const int8_t *taps[KWS_MODEL_MAX_KERNEL];
    int32_t i;

    if (s == NULL || s->model == NULL || frame == NULL || logits == NULL) {
        return KWS_ERR_ARG;
    }
    m = s->model;
    memcpy(advance(s, 0), frame, (size_t)m->input_channels);
    for (i = 0; i < m->num_layers; ++i) {
        const kws_layer_t *l = &m->layers[i];
        /* Each output goes straight into the next layer's ring; the last layer's into `last`. */
        int8_t *out = i + 1 < m->num_layers ? advance(s, i + 1) : (int8_t *)s->last;
        gather_taps(s, i, taps);
        if (l->kind == KWS_LAYER_DEPTHWISE) {
            kws_depthwise_frame(l, taps, out);
        } else {
            kws_conv_frame(l, taps, s->scratch, out);
        }
    }
    kws_average_ring(s->pool_sums, advance(s, m->num_layers), (const int8_t *)s->last, m->pool_channels,
                     m->pool_frames, (int8_t *)s->pooled);
    kws_conv1x1_frame(m->classifier, (const int8_t *)s->pooled, s->scratch, (int8_t *)s->logits);
    s->frames += s->frames < UINT32_MAX;
    if (s->frames < (uint32_t)m->input_frames) {
        return 0;
    }
    memcpy(logits, s->logits, (size_t)m->num_classes);
    return 1;
}

const int8_t *kws_network_output(const kws_network_t *s, int layer)
{
    const kws_model_t *m = s != NULL ? s->model : NULL;
    if (m == NULL || layer < 0 || layer > m->num_layers + 1) {
        return NULL;
    }
    if (layer + 1 < m->num_layers) {
        const kws_ring_t *ring = &m->rings[layer + 1];
        return (const int8_t *)s->rings + ring->offset + s->newest[layer + 1] * ring->stride;
    }
    if (layer + 1 == m->num_layers) {
        return (const int8_t *)s->last;
    }
    return (const int8_t *)(layer == m->num_layers ? s->pooled : s->logits);
}
