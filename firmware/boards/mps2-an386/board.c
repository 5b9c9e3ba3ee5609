/* mps2-an386 (Cortex-M4) board: Arm semihosting for files, console and exit; SysTick as tick counter.
 * Semihosting calls trap to the debugger (QEMU with -semihosting-config enable=on,target=native) through
 * `bkpt 0xab` with the operation in r0 and a pointer to its argument block in r1. */
#include <stdint.h>

#include "kws_app.h"
#include "kws_board.h"
#include "semihost.h"

int32_t kws_semihost(int32_t op, const void *arg)
{
    register int32_t r0 __asm__("r0") = op;
    register const void *r1 __asm__("r1") = arg;
    __asm__ volatile("bkpt 0xab" : "+r"(r0) : "r"(r1) : "memory");
    return r0;
}

uint32_t kws_semihost_strlen(const char *s)
{
    uint32_t n = 0;
    while (s[n] != '\0') {
        ++n;
    }
    return n;
}

long kws_board_read_file(const char *path, void *buf, long cap)
{
    const uint32_t open_args[3] = {(uint32_t)(uintptr_t)path, KWS_OPEN_MODE_RB, kws_semihost_strlen(path)};
    const int32_t fd = kws_semihost(KWS_SYS_OPEN, open_args);
    uint32_t handle[1];
    uint32_t read_args[3];
    int32_t size;

    if (fd < 0) {
        return -1;
    }
    handle[0] = (uint32_t)fd;
    size = kws_semihost(KWS_SYS_FLEN, handle);
    if (size < 0 || size > cap) {
        kws_semihost(KWS_SYS_CLOSE, handle);
        return -1;
    }
    read_args[0] = (uint32_t)fd;
    read_args[1] = (uint32_t)(uintptr_t)buf;
    read_args[2] = (uint32_t)size;
    /* KWS_SYS_READ returns the number of bytes NOT read. */
    if (kws_semihost(KWS_SYS_READ, read_args) != 0) {
        size = -1;
    }
    kws_semihost(KWS_SYS_CLOSE, handle);
    return size;
}

/* The keyword apps' streamed file reads (kws_app.h). */
int kws_app_open(const char *path)
{
    const uint32_t args[3] = {(uint32_t)(uintptr_t)path, KWS_OPEN_MODE_RB, kws_semihost_strlen(path)};
    return kws_semihost(KWS_SYS_OPEN, args);
}

long kws_app_read(int handle, void *buf, long bytes)
{
    const uint32_t args[3] = {(uint32_t)handle, (uint32_t)(uintptr_t)buf, (uint32_t)bytes};
    const int32_t not_read = kws_semihost(KWS_SYS_READ, args); /* KWS_SYS_READ returns the bytes NOT read */
    return not_read < 0 || not_read > bytes ? -1 : bytes - not_read;
}

void kws_app_close(int handle)
{
    const uint32_t args[1] = {(uint32_t)handle};
    kws_semihost(KWS_SYS_CLOSE, args);
}

void kws_board_puts(const char *s)
{
    kws_semihost(KWS_SYS_WRITE0, s);
}

/* SysTick on the processor clock, counting down from 2^24 - 1. */
#define SYST_CSR (*(volatile uint32_t *)0xE000E010u)
#define SYST_RVR (*(volatile uint32_t *)0xE000E014u)
#define SYST_CVR (*(volatile uint32_t *)0xE000E018u)
#define SYST_MAX 0x00FFFFFFu

void kws_board_timer_start(void)
{
    SYST_CSR = 0;
    SYST_RVR = SYST_MAX;
    SYST_CVR = 0; /* any write clears it: the count restarts from RVR */
    SYST_CSR = 5; /* enable, processor clock, no interrupt */
}

uint32_t kws_board_timer_read(void)
{
    return (SYST_MAX - SYST_CVR) & SYST_MAX;
}

void kws_board_exit(int status)
{
    const uint32_t args[2] = {KWS_ADP_STOPPED_APPLICATION_EXIT, (uint32_t)status};
    for (;;) {
        kws_semihost(KWS_SYS_EXIT_EXTENDED, args);
    }
}
