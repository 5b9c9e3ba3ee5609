/* Arm semihosting on the mps2-an386 board: the one trap that board.c (tests' files, console, exit) and the
 * keyword app's glue (command line, streamed file reads) share. QEMU serves it with
 * -semihosting-config enable=on,target=native. */
#ifndef KWS_SEMIHOST_H
#define KWS_SEMIHOST_H

#include <stdint.h>

enum {
    KWS_SYS_OPEN = 0x01,
    KWS_SYS_CLOSE = 0x02,
    KWS_SYS_WRITE0 = 0x04,
    KWS_SYS_READ = 0x06, /* returns the number of bytes NOT read */
    KWS_SYS_FLEN = 0x0C,
    KWS_SYS_GET_CMDLINE = 0x15,
    KWS_SYS_EXIT_EXTENDED = 0x20, /* SYS_EXIT on AArch32 cannot carry a status; the extended one can */
    KWS_ADP_STOPPED_APPLICATION_EXIT = 0x20026,
    KWS_OPEN_MODE_RB = 1
};

/* `bkpt 0xab` with the operation in r0 and a pointer to its argument block in r1; returns r0. */
int32_t kws_semihost(int32_t op, const void *arg);

/* strlen without the C library, for the open call's length argument. */
uint32_t kws_semihost_strlen(const char *s);

/* Timer 0's interrupt handler: weak in startup.c's vector table (a fault there), defined by images that use
 * it (listen_glue.c). */
void kws_irq_timer0(void);

#endif
