/* Minimal Cortex-M4 startup for mps2-an386: vector table, reset handler (FPU on, .data copied from its load
 * address in SSRAM1, .bss zeroed), then main(); main's return value becomes the semihosting exit status. */
#include <stdint.h>

#include "kws_board.h"

/* Linker script symbols (linker.ld). */
extern uint32_t _sidata, _sdata, _edata, _sbss, _ebss, _estack;

int main(void);
void Reset_Handler(void);
void Fault_Handler(void);

typedef void (*kws_handler_t)(void);

/* Initial stack pointer, then the 15 system exception handlers; the tests use no interrupts. */
typedef struct {
    uint32_t *initial_sp;
    kws_handler_t handlers[15];
} kws_vector_table_t;

__attribute__((section(".vectors"), used)) const kws_vector_table_t kws_vectors = {
    &_estack,
    {Reset_Handler, Fault_Handler, Fault_Handler, Fault_Handler, Fault_Handler, Fault_Handler, 0, 0, 0, 0,
     Fault_Handler, Fault_Handler, 0, Fault_Handler, Fault_Handler},
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
