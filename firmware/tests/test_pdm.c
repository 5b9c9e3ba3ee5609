/* Host test of the nRF52840 PDM driver (boards/nano33ble/nrf52_pdm.c) against a register-level model.
 *
 * The test owns a kws_nrf_pdm_t and plays the peripheral's EasyDMA side as PS 6.15 describes it: on START it
 * latches SAMPLE.PTR and raises EVENTS_STARTED; it writes one sample at a time into the latched buffer; after
 * SAMPLE.MAXCNT samples it raises EVENTS_END, latches SAMPLE.PTR again and raises EVENTS_STARTED. The CPU side
 * runs at random moments: the interrupt handler some random number of samples after an event (less than one
 * block, the driver's stated limit; sometimes with no event at all), and a consumer that drains the block ring
 * in bursts, with stalls long enough to fill it. Every sample carries its own index, so the consumer proves
 * that each one arrives once and in order, that the only gaps are whole blocks, and that their number is
 * exactly the ring's overrun count. Also checked: the registers the driver configures, and that SAMPLE.PTR
 * always names the other buffer by the time the DMA latches it (the DMA never refills a block unread). */
#include <stddef.h>
#include <stdint.h>

#include "kws_blocks.h"
#include "kws_test_util.h"
#include "nano33ble/nano33ble.h"
#include "nano33ble/nrf52_pdm.h"

#define BLOCK KWS_LISTEN_BLOCK_SAMPLES
#define BLOCKS_PER_RUN 3000u

static int g_passed, g_failed;

#define CHECK(cond, ...)                                                                                         \
    do {                                                                                                         \
        if (cond) {                                                                                              \
            ++g_passed;                                                                                          \
        } else {                                                                                                 \
            ++g_failed;                                                                                          \
            kws_printf("FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);                                           \
            kws_printf(__VA_ARGS__);                                                                             \
            kws_printf("\n");                                                                                    \
        }                                                                                                        \
    } while (0)

/* Sample i of the microphone's stream: its index, modulo 2^16, as an int16. */
static int16_t sample_value(uint32_t i)
{
    return (int16_t)((int32_t)(i & 0xFFFFu) - 32768);
}

typedef struct {
    kws_nrf_pdm_t regs;
    kws_blocks_t ring;
    kws_pdm_t pdm;
    /* the DMA */
    int16_t *latched;     /* buffer being written */
    uint32_t latched_ptr; /* SAMPLE.PTR value it was latched from */
    uint32_t pos;         /* samples written into it */
    uint32_t produced;    /* samples written in all */
    uint32_t swaps;       /* buffer latches after the first */
    /* the consumer */
    uint32_t next_block; /* index of the next block it expects */
    uint32_t gaps;       /* blocks found missing so far */
    uint32_t received;   /* blocks received */
} sim_t;

static sim_t g_sim; /* two DMA buffers and the ring: too big for some hosts' default stack */

/* The buffer SAMPLE.PTR names: one of the driver's two, or NULL. */
static int16_t *buffer_at(sim_t *s, uint32_t ptr)
{
    int k;
    for (k = 0; k < 2; ++k) {
        if ((uint32_t)(uintptr_t)s->pdm.dma[k] == ptr) {
            return s->pdm.dma[k];
        }
    }
    return NULL;
}

static void latch(sim_t *s)
{
    int16_t *next = buffer_at(s, s->regs.SAMPLE_PTR);
    CHECK(next != NULL, "SAMPLE.PTR 0x%x names no driver buffer", (unsigned)s->regs.SAMPLE_PTR);
    CHECK(s->regs.SAMPLE_MAXCNT == BLOCK, "SAMPLE.MAXCNT %u", (unsigned)s->regs.SAMPLE_MAXCNT);
    if (s->latched != NULL) {
        ++s->swaps;
        CHECK(next != s->latched, "the DMA would refill the block it just finished (SAMPLE.PTR not updated)");
    }
    s->latched = next != NULL ? next : s->pdm.dma[0];
    s->latched_ptr = s->regs.SAMPLE_PTR;
    s->pos = 0;
    s->regs.EVENTS_STARTED = 1;
}

/* One sample through the DMA; END + STARTED at the end of a buffer. */
static void dma_step(sim_t *s)
{
    s->latched[s->pos++] = sample_value(s->produced++);
    if (s->pos == s->regs.SAMPLE_MAXCNT) {
        s->regs.EVENTS_END = 1;
        latch(s);
    }
}

/* The main loop's side: every waiting block checked against the stream and released. */
static void consume(sim_t *s)
{
    const int16_t *block;
    int count;
    while ((block = kws_blocks_peek(&s->ring, &count)) != NULL) {
        const uint32_t unexplained = s->ring.overruns - s->gaps;
        uint32_t k, skip, j, bad = 0;
        CHECK(count == BLOCK, "block of %d samples", count);
        /* The first candidate block (next, or after up to `unexplained` dropped ones) whose samples match. */
        for (skip = 0; skip <= unexplained; ++skip) {
            k = s->next_block + skip;
            for (j = 0, bad = 0; j < (uint32_t)count && !bad; ++j) {
                bad = block[j] != sample_value(k * BLOCK + j);
            }
            if (!bad) {
                break;
            }
        }
        CHECK(!bad, "block %u: not the stream's block %u nor one of the %u after it (overruns %u)",
              (unsigned)s->received, (unsigned)s->next_block, (unsigned)unexplained, (unsigned)s->ring.overruns);
        if (!bad) {
            s->gaps += skip;
            s->next_block += skip + 1u;
        }
        ++s->received;
        kws_blocks_release(&s->ring);
    }
}

/* The interrupt controller: INTENSET / INTENCLR are write-one-to-set / -clear into INTEN. */
static void apply_inten(kws_nrf_pdm_t *r)
{
    r->INTEN = (r->INTEN | r->INTENSET) & ~r->INTENCLR;
    r->INTENSET = 0;
    r->INTENCLR = 0;
}

static void check_configuration(const kws_nrf_pdm_t *r)
{
    CHECK(r->PSEL_CLK == KWS_NRF_PIN(0, 26), "PSEL.CLK 0x%x", (unsigned)r->PSEL_CLK);
    CHECK(r->PSEL_DIN == KWS_NRF_PIN(0, 25), "PSEL.DIN 0x%x", (unsigned)r->PSEL_DIN);
    CHECK(r->PDMCLKCTRL == 0x0A000000u && r->RATIO == 1u, "1.280 MHz / 80 = 16 kHz: 0x%x, %u",
          (unsigned)r->PDMCLKCTRL, (unsigned)r->RATIO);
    CHECK(r->MODE == 1u, "MODE %u: mono, left on the falling edge", (unsigned)r->MODE);
    CHECK(r->INTEN == KWS_NRF_PDM_INT_STARTED, "INTEN 0x%x: STARTED only", (unsigned)r->INTEN);
    CHECK(r->ENABLE == 1u && r->SAMPLE_MAXCNT == BLOCK, "ENABLE %u MAXCNT %u", (unsigned)r->ENABLE,
          (unsigned)r->SAMPLE_MAXCNT);
    CHECK(r->TASKS_START == 1u, "TASKS_START not triggered");
}

static void run(uint32_t seed)
{
    sim_t *s = &g_sim;
    const kws_pdm_pins_t pins = {KWS_NANO_PDM_CLK, KWS_NANO_PDM_DIN}; /* checked against P0.26 / P0.25 below */
    uint32_t rng = seed, irq_due = 0, stall = 0, total;
    int irq_waiting = 0;

    *s = (sim_t){0};
    kws_blocks_init(&s->ring);
    kws_pdm_init(&s->pdm, &s->regs, &s->ring, pins);
    apply_inten(&s->regs);
    kws_pdm_start(&s->pdm);
    check_configuration(&s->regs);
    s->regs.TASKS_START = 0;
    latch(s);
    total = BLOCKS_PER_RUN * BLOCK;
    while (s->produced < total || irq_waiting) {
        const uint32_t r = kws_rand(&rng);
        if (s->produced < total) {
            dma_step(s);
        }
        /* An event raises the interrupt; it is taken 0 .. BLOCK - 2 samples later. */
        if (!irq_waiting && (s->regs.EVENTS_STARTED & s->regs.INTEN)) {
            irq_waiting = 1;
            irq_due = s->produced + r % (BLOCK - 1u);
        }
        if (irq_waiting && (s->produced >= irq_due || s->produced == total)) {
            irq_waiting = 0;
            kws_pdm_irq(&s->pdm);
            CHECK(s->regs.EVENTS_STARTED == 0, "EVENTS_STARTED left set");
        } else if (r % 997u == 0u) {
            kws_pdm_irq(&s->pdm); /* spurious: an interrupt with no event must change nothing */
        }
        /* The main loop: bursts, and now and then a stall of up to KWS_LISTEN_BLOCKS + 6 blocks. */
        if (stall > 0) {
            --stall;
        } else if ((r >> 8) % 4000u == 0u) {
            stall = (r >> 16) % ((KWS_LISTEN_BLOCKS + 6u) * BLOCK);
        } else if ((r >> 8) % 97u == 0u) {
            consume(s);
        }
    }
    consume(s);
    /* Every block the DMA completed was received or dropped, and every drop was counted. */
    CHECK(s->received + s->ring.overruns == BLOCKS_PER_RUN, "received %u + overruns %u != %u blocks",
          (unsigned)s->received, (unsigned)s->ring.overruns, (unsigned)BLOCKS_PER_RUN);
    CHECK(s->next_block + (s->ring.overruns - s->gaps) == BLOCKS_PER_RUN, "blocks after the last received: %u",
          (unsigned)(BLOCKS_PER_RUN - s->next_block));
    CHECK(s->ring.overruns > 0 && s->received > BLOCKS_PER_RUN / 2, "overruns %u received %u: the stalls "
          "should drop some blocks, not most", (unsigned)s->ring.overruns, (unsigned)s->received);
    CHECK(s->swaps == BLOCKS_PER_RUN, "swaps %u", (unsigned)s->swaps);
    kws_printf("pdm seed %u: %u blocks, %u received, %u overruns, %u buffer swaps\n", (unsigned)seed,
               (unsigned)BLOCKS_PER_RUN, (unsigned)s->received, (unsigned)s->ring.overruns, (unsigned)s->swaps);
}

int main(void)
{
    uint32_t seed;
    for (seed = 1; seed <= 4; ++seed) {
        run(seed * 2654435761u);
    }
    kws_printf("%d passed, %d failed\n", g_passed, g_failed);
    return g_failed != 0;
}
