/* What the tests and the bench need from a board: files, text output, exit status, a tick counter.
 * Not used by the front end itself; one implementation per folder under boards/. */
#ifndef KWS_BOARD_H
#define KWS_BOARD_H

#include <stdint.h>

/* Read the whole file into buf. Returns its size, or -1 if it cannot be opened or is larger than cap. */
long kws_board_read_file(const char *path, void *buf, long cap);
/* Write a NUL-terminated string to the console (no newline added). */
void kws_board_puts(const char *s);
/* Restart / read a free-running tick counter; read returns ticks since start (< 2^24 ticks apart), or 0
 * on boards without one (the host, whose instruction counts come from callgrind). */
void kws_board_timer_start(void);
uint32_t kws_board_timer_read(void);
/* Stop with a process exit status. */
void kws_board_exit(int status);

#endif /* KWS_BOARD_H */
