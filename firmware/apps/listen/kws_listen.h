/* The always-listening app (kws_listen.c), written once for every board, and what a board's glue supplies.
 *
 *   board interrupt --(kws_blocks_claim / publish, or kws_blocks_push)--> kws_blocks_t --> main loop: kws_process
 *   per block, a line and the LED per detection, sleep (WFI) when no block waits.
 *
 * Console lines (text out; `tinykws firmware run --interrupts` parses them, the same words as kws_app.c):
 *
 *   state ring <bytes> engine <bytes>
 *   det <hop> <class> <score_sum>          one per detection, as it happens
 *   overrun <total>                        whenever blocks were dropped since the last block processed
 *   end <hops> <samples>                   only where the audio source ends (QEMU), with
 *   listen blocks <n> overruns <n>         the totals */
#ifndef KWS_LISTEN_H
#define KWS_LISTEN_H

#include <stdint.h>

#include "kws_blocks.h"

/* Run the loop: init the engine, start the source, process blocks until the source ends (never, on a board
 * with a microphone). Returns the exit status. */
int kws_listen_main(void);

/* --- board glue ------------------------------------------------------------------------------------------
 * Besides these, the text line out is kws_board_puts (kws_board.h: the UART on a board, semihosting on QEMU)
 * and the block-ready interrupt is the board's own handler, which fills the ring (kws_blocks.h). */

/* Start the audio source; from now on its interrupt fills `ring`. */
void kws_listen_board_start(kws_blocks_t *ring);
/* Called when no block waits: with interrupts masked, look again and sleep (WFI) if still none; unmask (the
 * pending interrupt then runs). Returns 0 once the source has ended and its last block was released. */
int kws_listen_board_wait(const kws_blocks_t *ring);
/* A detection of class `keyword`: light the indicator (the LED). */
void kws_listen_board_detected(int keyword);

#endif /* KWS_LISTEN_H */
