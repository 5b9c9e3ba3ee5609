/* nRF52840 PDM driver (nrf52_pdm.h), after the PS 6.15 "EasyDMA" description: the DMA latches SAMPLE.PTR
 * when it starts a buffer and raises EVENTS_STARTED; from then on SAMPLE.PTR may take the next buffer's
 * address. When SAMPLE.MAXCNT samples are written it raises EVENTS_END, latches SAMPLE.PTR again and raises
 * EVENTS_STARTED for the next buffer, without stopping. So the one interrupt that matters is STARTED: the
 * buffer finished before it is complete (and stays untouched for a whole block, while the DMA fills the other
 * one), and SAMPLE.PTR must name the other buffer before the current one completes, i.e. the interrupt may be
 * late by up to one block (20 ms). END is not needed (a STARTED follows every END) and is not enabled.
 *
 * The finished buffer is copied into the ring (640 bytes, ~200 instructions) rather than handed over in
 * place, so the DMA always owns exactly two buffers and a slow main loop can only ever cost whole blocks,
 * counted by the ring as overruns; it can never make the DMA write into a block the main loop is reading. */
#include "nano33ble/nrf52_pdm.h"

#define PDM_CLK_HZ 1280000u
#define PDM_RATIO 80u
#if PDM_CLK_HZ / PDM_RATIO != KWS_SAMPLE_RATE
#error "the PDM clock and ratio give 16 kHz only: change KWS_NRF_PDM_CLK_* / RATIO with the sample rate"
#endif

static uint32_t address(const int16_t *buffer)
{
    return (uint32_t)(uintptr_t)buffer; /* EasyDMA takes 32-bit RAM addresses */
}

void kws_pdm_init(kws_pdm_t *p, kws_nrf_pdm_t *regs, kws_blocks_t *ring, kws_pdm_pins_t pins)
{
    p->regs = regs;
    p->ring = ring;
    p->started = 0;
    regs->ENABLE = 0;
    regs->PSEL_CLK = pins.clk;
    regs->PSEL_DIN = pins.din;
    regs->PDMCLKCTRL = KWS_NRF_PDM_CLK_1280K;
    regs->RATIO = KWS_NRF_PDM_RATIO_80;
    regs->MODE = KWS_NRF_PDM_MODE_MONO | (KWS_NRF_PDM_MODE_LEFT_FALLING << 1);
    regs->GAINL = KWS_NRF_PDM_GAIN_0DB;
    regs->GAINR = KWS_NRF_PDM_GAIN_0DB;
    regs->SAMPLE_PTR = address(p->dma[0]);
    regs->SAMPLE_MAXCNT = KWS_LISTEN_BLOCK_SAMPLES;
    regs->EVENTS_STARTED = 0;
    regs->EVENTS_END = 0;
    regs->EVENTS_STOPPED = 0;
    regs->INTENCLR = KWS_NRF_PDM_INT_END | KWS_NRF_PDM_INT_STOPPED;
    regs->INTENSET = KWS_NRF_PDM_INT_STARTED;
    regs->ENABLE = 1;
}

void kws_pdm_start(kws_pdm_t *p)
{
    p->regs->TASKS_START = 1;
}

void kws_pdm_irq(kws_pdm_t *p)
{
    kws_nrf_pdm_t *regs = p->regs;
    if (regs->EVENTS_END) {
        regs->EVENTS_END = 0;
    }
    if (!regs->EVENTS_STARTED) {
        return;
    }
    regs->EVENTS_STARTED = 0;
    (void)regs->EVENTS_STARTED; /* read back: the clear reaches the peripheral before the handler returns */
    if (p->started > 0) {
        kws_blocks_push(p->ring, p->dma[(p->started - 1u) % 2u], KWS_LISTEN_BLOCK_SAMPLES);
    }
    p->started += 1u;
    regs->SAMPLE_PTR = address(p->dma[p->started % 2u]);
}
