/* mps2-an386 glue of the keyword app: the command line through Arm semihosting (QEMU:
 * -semihosting-config enable=on,target=native,arg=kws_app,arg=FILE.wav[,arg=--scores]; file reads are in
 * boards/mps2-an386/board.c, shared with the always-listening image), and a stack high-water mark: the
 * stack below main() is painted before the run and scanned after it. */
#include <stdint.h>

#include "kws_app.h"
#include "kws_test_util.h"
#include "semihost.h"

#define CMDLINE_CAP 512
#define STACK_PROBE_BYTES 0x8000u /* painted below main's frame; the engine needs a few KB */
#define STACK_PAINT 0xA5A5A5A5u

extern uint32_t _ebss; /* linker.ld: end of .bss, bottom of the stack's region */

static uint32_t stack_pointer(void)
{
    uint32_t sp;
    __asm__ volatile("mov %0, sp" : "=r"(sp));
    return sp;
}

/* Paint from STACK_PROBE_BYTES below sp up to just under this function's own frame. */
__attribute__((noinline)) static uint32_t *paint_stack(void)
{
    const uint32_t sp = stack_pointer();
    uint32_t lo = sp - STACK_PROBE_BYTES;
    uint32_t *p;
    lo = lo < (uint32_t)(uintptr_t)&_ebss ? (uint32_t)(uintptr_t)&_ebss : lo;
    for (p = (uint32_t *)(uintptr_t)lo; (uint32_t)(uintptr_t)p < sp - 64u; ++p) {
        *p = STACK_PAINT;
    }
    return (uint32_t *)(uintptr_t)lo;
}

int main(void)
{
    static char cmdline[CMDLINE_CAP];
    uint32_t args[2];
    char *words[3] = {0, 0, 0};
    char *c;
    int n = 0, status;
    uint32_t top, *lo, *p;

    args[0] = (uint32_t)(uintptr_t)cmdline;
    args[1] = CMDLINE_CAP - 1;
    if (kws_semihost(KWS_SYS_GET_CMDLINE, args) != 0) {
        kws_printf("error: no semihosting command line\n");
        return 2;
    }
    cmdline[args[1]] = '\0';
    for (c = cmdline; *c != '\0' && n < 3;) { /* "kws_app FILE.wav [--scores]", no quoting */
        while (*c == ' ') {
            *c++ = '\0';
        }
        if (*c != '\0') {
            words[n++] = c;
        }
        while (*c != '\0' && *c != ' ') {
            ++c;
        }
    }
    if (n < 2) {
        kws_printf("usage: kws_app FILE.wav [--scores]\n");
        return 2;
    }
    top = stack_pointer();
    lo = paint_stack();
    status = kws_app_main(words[1], n > 2 && kws_streq(words[2], "--scores") ? KWS_APP_SCORES : 0);
    for (p = lo; (uint32_t)(uintptr_t)p < top && *p == STACK_PAINT; ++p) {
    }
    kws_printf("stack %u\n", (unsigned)(top - (uint32_t)(uintptr_t)p));
    return status;
}
