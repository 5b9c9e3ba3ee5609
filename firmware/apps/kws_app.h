/* The keyword app's split between its portable part (kws_app.c) and each board's glue
 * (apps/<board>/app_glue.c: main(), the command line, reading a file piece by piece). kws_board.h reads
 * whole files only, which a long recording does not fit on a 20 KB device. */
#ifndef KWS_APP_H
#define KWS_APP_H

#define KWS_APP_SCORES 1 /* flag: also print one line per hop with its logits and smoothed sums */

/* Stream the WAV at `path` through the engine, printing detections; returns the process exit status. */
int kws_app_main(const char *path, int flags);

/* Read a WAV's header from an open handle up to its 16 kHz mono int16 data (other formats refused with an
 * `error:` line): returns the data's size in bytes, or -1. Also used by the always-listening image on QEMU. */
long kws_app_open_wav(int handle);

/* Board glue: a file handle >= 0 or -1; bytes read (0 at the end) or -1; close. */
int kws_app_open(const char *path);
long kws_app_read(int handle, void *buf, long bytes);
void kws_app_close(int handle);

#endif /* KWS_APP_H */
