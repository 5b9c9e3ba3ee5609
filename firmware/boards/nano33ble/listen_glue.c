/* Nano 33 BLE Sense glue of the always-listening app (apps/listen): the PDM microphone's EasyDMA interrupt
 * fills the block ring (nrf52_pdm.c), the LED lights for about a second per detection, the detection lines go
 * out on the UART (board.c), and the core sleeps in WFI whenever no block waits. */
#include <stdint.h>

#include "kws_listen.h"
#include "nano33ble/nano33ble.h"
#include "nano33ble/nrf52_pdm.h"

#define NVIC_ISER0 (*(volatile uint32_t *)0xE000E100u)
#define NVIC_ICPR1 (*(volatile uint32_t *)0xE000E284u)
#define FPSCR_EXCEPTION_FLAGS 0x9Fu /* IOC, DZC, OFC, UFC, IXC, IDC */
#define LED_BLOCKS (KWS_SAMPLE_RATE / KWS_LISTEN_BLOCK_SAMPLES) /* ~1 s of blocks */

static kws_pdm_t g_pdm;
static uint32_t g_led_blocks;

void kws_irq_pdm(void)
{
    kws_pdm_irq(&g_pdm);
}

void kws_listen_board_start(kws_blocks_t *ring)
{
    const kws_pdm_pins_t pins = {KWS_NANO_PDM_CLK, KWS_NANO_PDM_DIN};
    kws_pdm_init(&g_pdm, KWS_NRF_PDM, ring, pins);
    NVIC_ISER0 = 1u << KWS_NRF_IRQ_PDM;
    kws_pdm_start(&g_pdm);
}

int kws_listen_board_wait(const kws_blocks_t *ring)
{
    if (g_led_blocks > 0) {
        g_led_blocks -= 1u;
        kws_nano_led(g_led_blocks > 0);
    }
    __asm__ volatile("cpsid i" ::: "memory");
    if (kws_blocks_waiting(ring) == 0) {
        /* nRF52840 anomaly 87 (errata): FPU exception flags left set keep the FPU interrupt pending, and a
         * pending interrupt makes WFI return at once. Clear the flags and the pending FPU interrupt first. */
        uint32_t fpscr;
        __asm__ volatile("vmrs %0, fpscr" : "=r"(fpscr));
        fpscr &= ~FPSCR_EXCEPTION_FLAGS;
        __asm__ volatile("vmsr fpscr, %0" : : "r"(fpscr) : "memory");
        NVIC_ICPR1 = 1u << (KWS_NRF_IRQ_FPU - 32);
        /* WFI wakes on a pending interrupt even while PRIMASK masks it; the handler runs at cpsie. */
        __asm__ volatile("dsb\n\twfi" ::: "memory");
    }
    __asm__ volatile("cpsie i" ::: "memory");
    return 1; /* a microphone never ends */
}

void kws_listen_board_detected(int keyword)
{
    (void)keyword;
    g_led_blocks = LED_BLOCKS;
    kws_nano_led(1);
}

int main(void)
{
    kws_nano_init();
    return kws_listen_main();
}
