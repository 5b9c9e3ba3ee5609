/* mps2-an386 glue of the always-listening app (apps/listen) under QEMU: a WAV read by semihosting stands in
 * for the microphone, a timer interrupt for its DMA.
 *
 * CMSDK APB timer 0 (IRQ 8) fires once per block period (KWS_LISTEN_BLOCK_SAMPLES at KWS_SAMPLE_RATE) and its
 * handler copies the WAV's next block into the ring, as a DMA-complete interrupt would; the main loop sleeps
 * in WFI between blocks. Timer 1 runs free as the clock that measures sleep: run QEMU with
 * `-icount shift=0,sleep=off`, so every instruction takes one virtual nanosecond and a WFI jumps the clock to
 * the next timer deadline; the awake time in timer ticks, converted to instructions by a calibration loop of
 * known length, is what the app costs per second of audio. Timers and registers: QEMU hw/arm/mps2.c (both
 * timers on SYSCLK, 25 MHz) and the CMSDK TRM (ARM DDI0479C, APB timer: CTRL bit 0 enable, bit 3 interrupt
 * enable; VALUE counts down and reloads from RELOAD; a write to INTCLEAR acknowledges).
 *
 * Command line (semihosting): kws_listen FILE.wav. Lines besides the app's:
 *   source samples <read from the WAV> dropped <of them, in overrun blocks>
 *   awake ticks <n> sleep ticks <n> calibration instructions <n> ticks <n>
 *   block period ticks <min> <max>
 *
 * QEMU 7.2 quirk: with sleep=off the timer's period after a WFI comes out twice the programmed one (a busy
 * wait instead of WFI gives the programmed 20 ms; with sleep=on the clock follows the host's and the run is
 * neither repeatable nor fast). Instructions per second of audio do not depend on it (they are counted per
 * sample read); the deadline the main loop has per block does, so it is measured and reported. */
#include <stdint.h>

#include "kws_app.h"
#include "kws_listen.h"
#include "kws_test_util.h"
#include "semihost.h"

typedef struct {
    volatile uint32_t CTRL;     /* 0x00 */
    volatile uint32_t VALUE;    /* 0x04 */
    volatile uint32_t RELOAD;   /* 0x08 */
    volatile uint32_t INTCLEAR; /* 0x0C (reads as INTSTATUS) */
} cmsdk_timer_t;

#define TIMER0 ((cmsdk_timer_t *)0x40000000u)
#define TIMER1 ((cmsdk_timer_t *)0x40001000u)
#define TIMER_ENABLE 1u
#define TIMER_IRQ_ENABLE 8u
#define NVIC_ISER0 (*(volatile uint32_t *)0xE000E100u)
#define IRQ_TIMER0 8
#define SYSCLK_HZ 25000000u
#define TICKS_PER_BLOCK ((uint32_t)((uint64_t)SYSCLK_HZ * KWS_LISTEN_BLOCK_SAMPLES / KWS_SAMPLE_RATE))
#define BLOCK_BYTES ((long)(KWS_LISTEN_BLOCK_SAMPLES * 2))
#define CALIBRATION_LOOPS (1u << 20) /* subs + bne: two instructions each */
#define CMDLINE_CAP 128 /* "kws_listen in.wav" */

static kws_blocks_t *g_ring;
static int g_fd = -1;
static long g_left;            /* bytes of WAV data not read yet */
static volatile int g_ended;   /* the WAV is exhausted: no block will come */
static uint32_t g_source_samples, g_dropped_samples;
static uint32_t g_wake_time, g_awake_ticks, g_sleep_ticks;
static uint32_t g_last_irq, g_period_min = 0xFFFFFFFFu, g_period_max; /* block interrupt spacing, ticks */
static int16_t g_discard[KWS_LISTEN_BLOCK_SAMPLES]; /* where a block goes when the ring is full */

/* Timer 1 counts down from 2^32 - 1: earlier - later is the ticks between (wraps after 171 s, longer than any
 * awake or asleep stretch measured here). */
static uint32_t now(void)
{
    return TIMER1->VALUE;
}

/* The block interrupt: the WAV's next block into the ring (or dropped when it is full). */
void kws_irq_timer0(void)
{
    int16_t *dst;
    long want, got = 0;

    const uint32_t t = now();
    TIMER0->INTCLEAR = 1u;
    if (g_last_irq != 0) {
        const uint32_t d = g_last_irq - t;
        g_period_min = d < g_period_min ? d : g_period_min;
        g_period_max = d > g_period_max ? d : g_period_max;
    }
    g_last_irq = t;
    if (g_ended) {
        return;
    }
    want = g_left < BLOCK_BYTES ? g_left & ~1L : BLOCK_BYTES;
    dst = kws_blocks_claim(g_ring);
    if (want > 0) {
        got = kws_app_read(g_fd, dst != NULL ? dst : g_discard, want);
    }
    if (got >= 2) {
        g_left -= got;
        g_source_samples += (uint32_t)(got / 2);
        if (dst != NULL) {
            kws_blocks_publish(g_ring, (int)(got / 2));
        } else {
            kws_blocks_drop(g_ring);
            g_dropped_samples += (uint32_t)(got / 2);
        }
    }
    if (got < BLOCK_BYTES) {
        g_ended = 1;
        TIMER0->CTRL = 0;
    }
}

void kws_listen_board_start(kws_blocks_t *ring)
{
    g_ring = ring;
    TIMER0->CTRL = 0;
    TIMER0->RELOAD = TICKS_PER_BLOCK - 1u;
    TIMER0->VALUE = TICKS_PER_BLOCK - 1u;
    TIMER0->INTCLEAR = 1u;
    NVIC_ISER0 = 1u << IRQ_TIMER0;
    g_wake_time = now();
    TIMER0->CTRL = TIMER_ENABLE | TIMER_IRQ_ENABLE;
}

int kws_listen_board_wait(const kws_blocks_t *ring)
{
    int more = 1;
    __asm__ volatile("cpsid i" ::: "memory");
    if (kws_blocks_waiting(ring) == 0) {
        if (g_ended) {
            more = 0;
        } else {
            /* WFI wakes on a pending interrupt even while PRIMASK masks it; the handler runs at cpsie. */
            const uint32_t t0 = now();
            g_awake_ticks += g_wake_time - t0;
            __asm__ volatile("dsb\n\twfi" ::: "memory");
            g_wake_time = now();
            g_sleep_ticks += t0 - g_wake_time;
        }
    }
    __asm__ volatile("cpsie i" ::: "memory");
    return more;
}

void kws_listen_board_detected(int keyword)
{
    (void)keyword; /* no LED that QEMU shows: the det line is the indicator */
}

static uint32_t calibration_ticks(void)
{
    uint32_t n = CALIBRATION_LOOPS;
    const uint32_t t0 = now();
    __asm__ volatile("1: subs %0, %0, #1\n\tbne 1b" : "+r"(n) : : "cc");
    return t0 - now();
}

int main(void)
{
    static char cmdline[CMDLINE_CAP];
    uint32_t args[2];
    char *path = cmdline;
    uint32_t cal;
    int status;

    args[0] = (uint32_t)(uintptr_t)cmdline;
    args[1] = CMDLINE_CAP - 1;
    if (kws_semihost(KWS_SYS_GET_CMDLINE, args) != 0) {
        kws_printf("error: no semihosting command line\n");
        return 2;
    }
    cmdline[args[1]] = '\0';
    while (*path != '\0' && *path != ' ') { /* "kws_listen FILE.wav", no quoting */
        ++path;
    }
    while (*path == ' ') {
        ++path;
    }
    g_fd = kws_app_open(path);
    if (g_fd < 0) {
        kws_printf("error: cannot open %s\n", path);
        return 2;
    }
    g_left = kws_app_open_wav(g_fd);
    if (g_left < 0) {
        return 2;
    }
    TIMER1->CTRL = 0;
    TIMER1->RELOAD = 0xFFFFFFFFu;
    TIMER1->VALUE = 0xFFFFFFFFu;
    TIMER1->CTRL = TIMER_ENABLE;
    cal = calibration_ticks();
    status = kws_listen_main();
    g_awake_ticks += g_wake_time - now();
    kws_app_close(g_fd);
    kws_printf("source samples %u dropped %u\n", (unsigned)g_source_samples, (unsigned)g_dropped_samples);
    kws_printf("awake ticks %u sleep ticks %u calibration instructions %u ticks %u\n", (unsigned)g_awake_ticks,
               (unsigned)g_sleep_ticks, 2u * CALIBRATION_LOOPS, (unsigned)cal);
    kws_printf("block period ticks %u %u\n", (unsigned)g_period_min, (unsigned)g_period_max);
    return status;
}
