/* The nRF52840 registers the Nano 33 BLE Sense image uses, as structs at their base addresses, from the
 * nRF52840 Product Specification v1.7 (Nordic Semiconductor, 2021): CLOCK (section 6.4), GPIO P0/P1 (6.9),
 * PDM (6.15), UART (6.33). Only the registers used are named; the gaps are reserved words. The drivers take a
 * pointer to these structs, so a host test can hand them a struct of its own (firmware/tests/test_pdm.c).
 * Each struct's layout is checked against the specification's offsets at compile time. */
#ifndef KWS_NRF52840_H
#define KWS_NRF52840_H

#include <stddef.h>
#include <stdint.h>

/* A compile-time check without C11's _Static_assert: a negative array size stops the build. */
#define KWS_OFFSET_CHECK(type, member, offset) \
    typedef char kws_offset_check_##type##_##member[(offsetof(type, member) == (offset)) ? 1 : -1]

/* PDM: pulse density modulation interface (PS 6.15.8), base 0x4001D000, interrupt 29. */
typedef struct {
    volatile uint32_t TASKS_START;    /* 0x000 */
    volatile uint32_t TASKS_STOP;     /* 0x004 */
    volatile uint32_t reserved0[62];
    volatile uint32_t EVENTS_STARTED; /* 0x100: the DMA took SAMPLE.PTR; it may be written for the next buffer */
    volatile uint32_t EVENTS_STOPPED; /* 0x104 */
    volatile uint32_t EVENTS_END;     /* 0x108: SAMPLE.MAXCNT samples written to RAM */
    volatile uint32_t reserved1[125];
    volatile uint32_t INTEN;          /* 0x300 */
    volatile uint32_t INTENSET;       /* 0x304 */
    volatile uint32_t INTENCLR;       /* 0x308 */
    volatile uint32_t reserved2[125];
    volatile uint32_t ENABLE;         /* 0x500 */
    volatile uint32_t PDMCLKCTRL;     /* 0x504 */
    volatile uint32_t MODE;           /* 0x508 */
    volatile uint32_t reserved3[3];
    volatile uint32_t GAINL;          /* 0x518 */
    volatile uint32_t GAINR;          /* 0x51C */
    volatile uint32_t RATIO;          /* 0x520 (nRF52840 and later) */
    volatile uint32_t reserved4[7];
    volatile uint32_t PSEL_CLK;       /* 0x540 */
    volatile uint32_t PSEL_DIN;       /* 0x544 */
    volatile uint32_t reserved5[6];
    volatile uint32_t SAMPLE_PTR;     /* 0x560: RAM address of the next buffer (32-bit address) */
    volatile uint32_t SAMPLE_MAXCNT;  /* 0x564: its length in 16-bit samples */
} kws_nrf_pdm_t;

KWS_OFFSET_CHECK(kws_nrf_pdm_t, EVENTS_STARTED, 0x100);
KWS_OFFSET_CHECK(kws_nrf_pdm_t, INTEN, 0x300);
KWS_OFFSET_CHECK(kws_nrf_pdm_t, ENABLE, 0x500);
KWS_OFFSET_CHECK(kws_nrf_pdm_t, GAINL, 0x518);
KWS_OFFSET_CHECK(kws_nrf_pdm_t, RATIO, 0x520);
KWS_OFFSET_CHECK(kws_nrf_pdm_t, PSEL_CLK, 0x540);
KWS_OFFSET_CHECK(kws_nrf_pdm_t, SAMPLE_PTR, 0x560);
KWS_OFFSET_CHECK(kws_nrf_pdm_t, SAMPLE_MAXCNT, 0x564);

#define KWS_NRF_PDM_INT_STARTED (1u << 0)
#define KWS_NRF_PDM_INT_STOPPED (1u << 1)
#define KWS_NRF_PDM_INT_END (1u << 2)
#define KWS_NRF_PDM_MODE_MONO 1u           /* MODE.OPERATION */
#define KWS_NRF_PDM_MODE_LEFT_FALLING 0u   /* MODE.EDGE: left (mono) sample taken on the falling clock edge */
#define KWS_NRF_PDM_CLK_1280K 0x0A000000u  /* PDMCLKCTRL.FREQ: 1.280 MHz, for RATIO 80 */
#define KWS_NRF_PDM_RATIO_80 1u            /* RATIO: 80 clocks per sample */
#define KWS_NRF_PDM_GAIN_0DB 0x28u         /* GAINL/R: 0.5 dB steps from -20 dB (0x00); 0x28 = 0 dB, the reset value */

/* GPIO port (PS 6.9.2): P0 at 0x50000000, P1 at 0x50000300. */
typedef struct {
    volatile uint32_t reserved0[321];
    volatile uint32_t OUT;     /* 0x504 */
    volatile uint32_t OUTSET;  /* 0x508 */
    volatile uint32_t OUTCLR;  /* 0x50C */
    volatile uint32_t IN;      /* 0x510 */
    volatile uint32_t DIR;     /* 0x514 */
    volatile uint32_t DIRSET;  /* 0x518 */
    volatile uint32_t DIRCLR;  /* 0x51C */
    volatile uint32_t reserved1[120];
    volatile uint32_t PIN_CNF[32]; /* 0x700 */
} kws_nrf_gpio_t;

KWS_OFFSET_CHECK(kws_nrf_gpio_t, OUTSET, 0x508);
KWS_OFFSET_CHECK(kws_nrf_gpio_t, DIRSET, 0x518);
KWS_OFFSET_CHECK(kws_nrf_gpio_t, PIN_CNF, 0x700);

#define KWS_NRF_GPIO_CNF_OUTPUT 1u             /* DIR output, input buffer connected, no pull */
#define KWS_NRF_GPIO_CNF_DRIVE_H0H1 (3u << 8) /* high drive both levels: the microphone's supply pin */

/* CLOCK (PS 6.4.3), base 0x40000000. */
typedef struct {
    volatile uint32_t TASKS_HFCLKSTART;   /* 0x000 */
    volatile uint32_t reserved0[63];
    volatile uint32_t EVENTS_HFCLKSTARTED; /* 0x100 */
} kws_nrf_clock_t;

KWS_OFFSET_CHECK(kws_nrf_clock_t, EVENTS_HFCLKSTARTED, 0x100);

/* UART0 without EasyDMA (PS 6.33.9, "deprecated" but present), base 0x40002000: a byte at a time. */
typedef struct {
    volatile uint32_t TASKS_STARTRX;  /* 0x000 */
    volatile uint32_t TASKS_STOPRX;   /* 0x004 */
    volatile uint32_t TASKS_STARTTX;  /* 0x008 */
    volatile uint32_t reserved0[68];
    volatile uint32_t EVENTS_TXDRDY;  /* 0x11C */
    volatile uint32_t reserved1[248];
    volatile uint32_t ENABLE;         /* 0x500 */
    volatile uint32_t reserved2[2];
    volatile uint32_t PSEL_TXD;       /* 0x50C */
    volatile uint32_t reserved3[3];
    volatile uint32_t TXD;            /* 0x51C */
    volatile uint32_t reserved4;
    volatile uint32_t BAUDRATE;       /* 0x524 */
} kws_nrf_uart_t;

KWS_OFFSET_CHECK(kws_nrf_uart_t, EVENTS_TXDRDY, 0x11C);
KWS_OFFSET_CHECK(kws_nrf_uart_t, ENABLE, 0x500);
KWS_OFFSET_CHECK(kws_nrf_uart_t, PSEL_TXD, 0x50C);
KWS_OFFSET_CHECK(kws_nrf_uart_t, TXD, 0x51C);
KWS_OFFSET_CHECK(kws_nrf_uart_t, BAUDRATE, 0x524);

#define KWS_NRF_UART_ENABLE 4u
#define KWS_NRF_UART_BAUD_115200 0x01D7E000u

/* A pin number for PSEL registers: bits 0-4 the pin, bit 5 the port, bit 31 clear = connected. */
#define KWS_NRF_PIN(port, pin) (((uint32_t)(port) << 5) | (uint32_t)(pin))

#define KWS_NRF_CLOCK ((kws_nrf_clock_t *)0x40000000u)
#define KWS_NRF_UART0 ((kws_nrf_uart_t *)0x40002000u)
#define KWS_NRF_PDM ((kws_nrf_pdm_t *)0x4001D000u)
#define KWS_NRF_P0 ((kws_nrf_gpio_t *)0x50000000u)
#define KWS_NRF_P1 ((kws_nrf_gpio_t *)0x50000300u)
#define KWS_NRF_IRQ_PDM 29
#define KWS_NRF_IRQ_FPU 38
#define KWS_NRF_NUM_IRQS 48

#endif /* KWS_NRF52840_H */
