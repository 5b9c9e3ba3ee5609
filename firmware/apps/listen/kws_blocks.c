/* The block ring (kws_blocks.h). The order of the stores is what makes it safe without masking: a block's
 * samples and count are written before `filled` moves past it, and `consumed` moves only after the consumer
 * is done with the block. The compiler barrier keeps gcc from reordering those stores; a Cortex-M4 (single
 * core, in-order) needs no hardware barrier for memory its own interrupt handler shares. */
#include "kws_blocks.h"

#include <string.h>

#define BARRIER() __asm__ volatile("" ::: "memory")

/* The counters wrap at 2^32: slot = counter % blocks stays continuous across the wrap only for a power of 2. */
#if KWS_LISTEN_BLOCKS < 2 || (KWS_LISTEN_BLOCKS & (KWS_LISTEN_BLOCKS - 1)) != 0
#error "FirmwareConfig.listen_blocks must be a power of 2 (>= 2)"
#endif
#if KWS_LISTEN_BLOCK_SAMPLES > 65535
#error "FirmwareConfig.listen_block_samples must fit the ring's 16-bit counts"
#endif

void kws_blocks_init(kws_blocks_t *r)
{
    memset(r, 0, sizeof(*r));
}

uint32_t kws_blocks_waiting(const kws_blocks_t *r)
{
    return r->filled - r->consumed;
}

int16_t *kws_blocks_claim(kws_blocks_t *r)
{
    if (kws_blocks_waiting(r) >= KWS_LISTEN_BLOCKS) {
        return NULL;
    }
    return r->blocks[r->filled % KWS_LISTEN_BLOCKS];
}

void kws_blocks_publish(kws_blocks_t *r, int count)
{
    r->counts[r->filled % KWS_LISTEN_BLOCKS] = (uint16_t)count;
    BARRIER();
    r->filled = r->filled + 1u;
}

void kws_blocks_drop(kws_blocks_t *r)
{
    r->overruns = r->overruns + 1u;
}

int kws_blocks_push(kws_blocks_t *r, const int16_t *samples, int count)
{
    int16_t *dst = kws_blocks_claim(r);
    if (dst == NULL) {
        kws_blocks_drop(r);
        return 0;
    }
    memcpy(dst, samples, (size_t)count * sizeof(*samples));
    kws_blocks_publish(r, count);
    return 1;
}

const int16_t *kws_blocks_peek(const kws_blocks_t *r, int *count)
{
    uint32_t slot;
    if (kws_blocks_waiting(r) == 0) {
        return NULL;
    }
    BARRIER();
    slot = r->consumed % KWS_LISTEN_BLOCKS;
    *count = r->counts[slot];
    return r->blocks[slot];
}

void kws_blocks_release(kws_blocks_t *r)
{
    BARRIER();
    r->consumed = r->consumed + 1u;
}
