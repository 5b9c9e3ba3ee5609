/* The nRF52840 PDM microphone into the always-listening app's block ring, EasyDMA double-buffered.
 *
 * Written against a register struct pointer (nrf52840.h): on the board it is KWS_NRF_PDM, in the host test
 * (firmware/tests/test_pdm.c) a struct whose EasyDMA side the test plays. 16 kHz mono: PDM clock 1.280 MHz,
 * ratio 80 (PS 6.15.4). The pins are the Nano 33 BLE Sense's MP34DT05 (kws_pdm_pins_nano33ble). */
#ifndef KWS_NRF52_PDM_H
#define KWS_NRF52_PDM_H

#include <stdint.h>

#include "kws_blocks.h"
#include "nano33ble/nrf52840.h"

typedef struct {
    kws_nrf_pdm_t *regs;
    kws_blocks_t *ring;
    uint32_t started; /* STARTED events handled: dma[(started - 1) % 2] is being filled, dma[started % 2] queued */
    int16_t dma[2][KWS_LISTEN_BLOCK_SAMPLES];
} kws_pdm_t;

typedef struct {
    uint32_t clk; /* PSEL value (KWS_NRF_PIN) */
    uint32_t din;
} kws_pdm_pins_t;

/* Configure (pins, clock, ratio, mono, gain, the first buffer, the STARTED interrupt) and enable; not started. */
void kws_pdm_init(kws_pdm_t *p, kws_nrf_pdm_t *regs, kws_blocks_t *ring, kws_pdm_pins_t pins);
void kws_pdm_start(kws_pdm_t *p);
/* The PDM interrupt handler's body: at STARTED, the buffer the DMA just finished goes into the ring (or is
 * counted as an overrun when the ring is full) and the other one is queued in SAMPLE.PTR. */
void kws_pdm_irq(kws_pdm_t *p);

#endif /* KWS_NRF52_PDM_H */
