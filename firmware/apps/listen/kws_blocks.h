/* The block ring between an audio interrupt (one producer) and the main loop (one consumer), lock-free.
 *
 * KWS_LISTEN_BLOCKS blocks of KWS_LISTEN_BLOCK_SAMPLES int16 samples (kws_config.h, from tinykws/config.py
 * FirmwareConfig). The producer claims the next free block, fills it, publishes it with its sample count; the
 * consumer peeks the oldest published block, processes it in place and releases it. Each side writes only
 * its own counter (`filled` by the producer, `consumed` by the consumer), and a 32-bit store is atomic on a
 * Cortex-M, so no interrupt masking is needed around either side.
 *
 * Overrun: a block completes while every block is published and not yet released. The producer then has
 * nowhere to put it: the block is dropped (the newest audio is lost, never an older block half-overwritten)
 * and `overruns` counts it. The consumer sees the stream with whole blocks missing, one per overrun. */
#ifndef KWS_BLOCKS_H
#define KWS_BLOCKS_H

#include <stddef.h>
#include <stdint.h>

#include "kws_config.h"

typedef struct {
    int16_t blocks[KWS_LISTEN_BLOCKS][KWS_LISTEN_BLOCK_SAMPLES];
    volatile uint16_t counts[KWS_LISTEN_BLOCKS]; /* samples in each published block (the last may be short) */
    volatile uint32_t filled;                    /* blocks published (producer), modulo 2^32 */
    volatile uint32_t consumed;                  /* blocks released (consumer), modulo 2^32 */
    volatile uint32_t overruns;                  /* blocks dropped because the ring was full (producer) */
} kws_blocks_t;

#define KWS_BLOCKS_STATE_BYTES ((unsigned)sizeof(kws_blocks_t))

void kws_blocks_init(kws_blocks_t *r);

/* Producer (interrupt). The block to fill next, or NULL if the ring is full (the caller drops its samples and
 * calls kws_blocks_drop). */
int16_t *kws_blocks_claim(kws_blocks_t *r);
/* Publish the claimed block with `count` (1..KWS_LISTEN_BLOCK_SAMPLES) samples. */
void kws_blocks_publish(kws_blocks_t *r, int count);
/* Count one completed block that had no room. */
void kws_blocks_drop(kws_blocks_t *r);
/* Claim, copy `count` samples in (or drop them when full), publish: for sources with buffers of their own
 * (the nRF52840 PDM's EasyDMA buffers). Returns 1 if the block went in, 0 if it was dropped. */
int kws_blocks_push(kws_blocks_t *r, const int16_t *samples, int count);

/* Consumer (main loop). The oldest published block and its sample count, or NULL when none waits. */
const int16_t *kws_blocks_peek(const kws_blocks_t *r, int *count);
void kws_blocks_release(kws_blocks_t *r);
/* Published blocks not yet released. */
uint32_t kws_blocks_waiting(const kws_blocks_t *r);

#endif /* KWS_BLOCKS_H */
