/* The always-listening loop (kws_listen.h): the same on every board, QEMU's included. Text goes out through
 * kws_printf (kws_test_util.h) over the board's kws_board_puts. */
#include "kws_listen.h"

#include "kws_engine.h"
#include "kws_test_util.h"

/* A block of KWS_LISTEN_BLOCK_SAMPLES completes at most this many hops. */
#define MAX_DETECTIONS (KWS_LISTEN_BLOCK_SAMPLES / KWS_HOP_SAMPLES + 2)

static kws_engine_t g_engine;
static kws_blocks_t g_ring;

/* One block through the engine; its detections out. */
static void process_block(const int16_t *block, int count)
{
    kws_detection_t dets[MAX_DETECTIONS];
    const int found = kws_process(&g_engine, block, count, dets, MAX_DETECTIONS);
    int i;
    for (i = 0; i < found && i < MAX_DETECTIONS; ++i) {
        kws_printf("det %u %d %ld\n", (unsigned)dets[i].hop, (int)dets[i].keyword, (long)dets[i].score_sum);
        kws_listen_board_detected(dets[i].keyword);
    }
}

int kws_listen_main(void)
{
    uint32_t blocks = 0, overruns_seen = 0;
    long samples = 0;

    kws_printf("state ring %u engine %u\n", KWS_BLOCKS_STATE_BYTES, (unsigned)KWS_ENGINE_STATE_BYTES);
    if (kws_engine_init(&g_engine) != KWS_OK) {
        kws_printf("error: the model does not fit the engine\n");
        return 2;
    }
    kws_blocks_init(&g_ring);
    kws_listen_board_start(&g_ring);
    for (;;) {
        const int16_t *block;
        int count;
        while ((block = kws_blocks_peek(&g_ring, &count)) != NULL) {
            const uint32_t overruns = g_ring.overruns;
            if (overruns != overruns_seen) { /* never silent: said before the block after the gap */
                kws_printf("overrun %u\n", (unsigned)overruns);
                overruns_seen = overruns;
            }
            process_block(block, count);
            kws_blocks_release(&g_ring);
            samples += count;
            ++blocks;
        }
        if (!kws_listen_board_wait(&g_ring)) {
            break;
        }
    }
    kws_printf("end %u %ld\n", (unsigned)g_engine.hops, samples);
    kws_printf("listen blocks %u overruns %u\n", (unsigned)blocks, (unsigned)g_ring.overruns);
    return 0;
}
