/* Minimal Cortex-M4 startup for mps2-an386: vector table, reset handler (FPU on, .data copied from its load
 * address in SSRAM1, .bss zeroed), then main(); main's return value becomes the semihosting exit status. */
#include <stdint.h>

#include "kws_board.h"
#include "semihost.h"

/* Linker script symbols (linker.ld). */
extern uint32_t _sidata, _sdata, _edata, _sbss, _ebss, _estack;

int main(void);
void Reset_Handler(void);
void Fault_Handler(void);

typedef void (*kws_handler_t)(void);

/* The CMSDK APB timer 0 interrupt (IRQ 8 on QEMU's mps2-an385/an386, hw/arm/mps2.c): the always-listening
 * app's audio source (firmware/boards/mps2-an386/listen_glue.c). Images without it treat it as a fault. */
void kws_irq_timer0(void) __attribute__((weak, alias("Fault_Handler")));

#define KWS_NUM_IRQS 32 /* QEMU's mps2-an386 NVIC: num-irq = 32 */

/* Initial stack pointer, the 15 system exception handlers, then the external interrupts. */
typedef struct {
    uint32_t *initial_sp;
    kws_handler_t handlers[15];
    kws_handler_t irqs[KWS_NUM_IRQS];
} kws_vector_table_t;

__attribute__((section(".vectors"), used)) const kws_vector_table_t kws_vectors = {
    &_estack,
    {Reset_Handler, Fault_Handler, Fault_Handler, Fault_Handler, Fault_Handler, Fault_Handler, 0, 0, 0, 0,
     Fault_Handler, Fault_Handler, 0, Fault_Handler, Fault_Handler},
    {Fault_Handler, Fault_Handler, Fault_Handler, Fault_Handler, Fault_Handler, Fault_Handler, Fault_Handler,
     Fault_Handler, kws_irq_timer0, Fault_Handler, Fault_Handler, Fault_Handler, Fault_Handler, Fault_Handler,
     Fault_Handler, Fault_Handler, Fault_Handler, Fault_Handler, Fault_Handler, Fault_Handler, Fault_Handler,
     Fault_Handler, Fault_Handler, Fault_Handler, Fault_Handler, Fault_Handler, Fault_Handler, Fault_Handler,
     Fault_Handler, Fault_Handler, Fault_Handler, Fault_Handler},
};

#define SCB_CPACR (*(volatile uint32_t *)0xE000ED88u)

void Reset_Handler(void)
{
    const uint32_t *src = &_sidata;
    uint32_t *dst;

    /* CP10 and CP11 full access, before any code may touch the FPU (the build uses the hard-float ABI). */
    SCB_CPACR |= 0xFu << 20;
    __asm__ volatile("dsb\n\tisb" ::: "memory");
    for (dst = &_sdata; dst < &_edata;) {
        *dst++ = *src++;
    }
    for (dst = &_sbss; dst < &_ebss;) {
        *dst++ = 0;
    }
    kws_board_exit(main());
}

void Fault_Handler(void)
{
    kws_board_puts("mps2-an386: unexpected exception (fault)\n");
    kws_board_exit(3);
}
