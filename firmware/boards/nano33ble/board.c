/* Arduino Nano 33 BLE Sense (nRF52840): clocks, LED, microphone power, the UART console, and what kws_board.h
 * asks of a board. Registers: nrf52840.h (nRF52840 Product Specification v1.7). */
#include <stdint.h>

#include "kws_board.h"
#include "nano33ble/nano33ble.h"

/* Debug watch and trace unit's cycle counter (ARMv7-M ARM, C1.8): the tick counter of kws_board.h. */
#define DEMCR (*(volatile uint32_t *)0xE000EDFCu)
#define DWT_CTRL (*(volatile uint32_t *)0xE0001000u)
#define DWT_CYCCNT (*(volatile uint32_t *)0xE0001004u)

static void output_pin(kws_nrf_gpio_t *port, uint32_t pin, uint32_t drive)
{
    port->PIN_CNF[pin] = KWS_NRF_GPIO_CNF_OUTPUT | drive;
    port->DIRSET = 1u << pin;
}

void kws_nano_init(void)
{
    kws_nrf_clock_t *clock = KWS_NRF_CLOCK;
    kws_nrf_uart_t *uart = KWS_NRF_UART0;

    /* The 64 MHz crystal oscillator (HFXO) instead of the RC one: the PDM clock and the UART baud rate are
     * derived from HFCLK and the RC oscillator's tolerance is too loose for both (PS 6.4.2). */
    clock->EVENTS_HFCLKSTARTED = 0;
    clock->TASKS_HFCLKSTART = 1;
    while (clock->EVENTS_HFCLKSTARTED == 0) {
    }
    output_pin(KWS_NANO_LED_PORT, KWS_NANO_LED_PIN, 0);
    KWS_NANO_LED_PORT->OUTCLR = 1u << KWS_NANO_LED_PIN;
    output_pin(KWS_NANO_MIC_PWR_PORT, KWS_NANO_MIC_PWR_PIN, KWS_NRF_GPIO_CNF_DRIVE_H0H1);
    KWS_NANO_MIC_PWR_PORT->OUTSET = 1u << KWS_NANO_MIC_PWR_PIN;
    /* UART TX only, 115200 8N1, on the header's TX pin; the PSEL register takes the pin, the UART drives it. */
    uart->PSEL_TXD = KWS_NANO_UART_TX;
    uart->BAUDRATE = KWS_NRF_UART_BAUD_115200;
    uart->ENABLE = KWS_NRF_UART_ENABLE;
    uart->TASKS_STARTTX = 1;
}

void kws_nano_led(int on)
{
    if (on) {
        KWS_NANO_LED_PORT->OUTSET = 1u << KWS_NANO_LED_PIN;
    } else {
        KWS_NANO_LED_PORT->OUTCLR = 1u << KWS_NANO_LED_PIN;
    }
}

static void uart_put(char c)
{
    kws_nrf_uart_t *uart = KWS_NRF_UART0;
    uart->EVENTS_TXDRDY = 0;
    uart->TXD = (uint8_t)c;
    while (uart->EVENTS_TXDRDY == 0) { /* ~87 us a byte at 115200: fine for a line per detection */
    }
}

void kws_board_puts(const char *s)
{
    for (; *s != '\0'; ++s) {
        if (*s == '\n') {
            uart_put('\r');
        }
        uart_put(*s);
    }
}

long kws_board_read_file(const char *path, void *buf, long cap)
{
    (void)path;
    (void)buf;
    (void)cap;
    return -1; /* no file system on the board */
}

void kws_board_timer_start(void)
{
    DEMCR |= 1u << 24; /* TRCENA */
    DWT_CYCCNT = 0;
    DWT_CTRL |= 1u;
}

uint32_t kws_board_timer_read(void)
{
    return DWT_CYCCNT;
}

void kws_board_exit(int status)
{
    (void)status; /* nowhere to return to: sleep */
    for (;;) {
        __asm__ volatile("wfi");
    }
}
