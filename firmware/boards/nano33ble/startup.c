/* Arduino Nano 33 BLE Sense (nRF52840, Cortex-M4F) startup: the vector table at the application's start
 * (0x10000, linker.ld), the reset handler (FPU on, the vector table made the active one, interrupts the
 * bootloader may have left enabled switched off, .data copied, .bss zeroed) and main(). */
#include <stdint.h>

#include "kws_board.h"
#include "nano33ble/nano33ble.h"

/* Linker script symbols (linker.ld). */
extern uint32_t _sidata, _sdata, _edata, _sbss, _ebss, _estack;

int main(void);
void Reset_Handler(void);
void Fault_Handler(void);
void kws_irq_pdm(void) __attribute__((weak, alias("Fault_Handler")));

typedef void (*kws_handler_t)(void);

/* Initial stack pointer, the 15 system exception handlers, the nRF52840's 48 interrupts (PS 6.1.2: the
 * peripheral at 0x4001D000, PDM, is interrupt 29). */
typedef struct {
    uint32_t *initial_sp;
    kws_handler_t handlers[15];
    kws_handler_t irqs[KWS_NRF_NUM_IRQS];
} kws_vector_table_t;

__attribute__((section(".vectors"), used)) const kws_vector_table_t kws_vectors = {
    &_estack,
    {Reset_Handler, Fault_Handler, Fault_Handler, Fault_Handler, Fault_Handler, Fault_Handler, 0, 0, 0, 0,
     Fault_Handler, Fault_Handler, 0, Fault_Handler, Fault_Handler},
    {Fault_Handler, Fault_Handler, Fault_Handler, Fault_Handler, Fault_Handler, Fault_Handler,
     Fault_Handler, Fault_Handler, Fault_Handler, Fault_Handler, Fault_Handler, Fault_Handler,
     Fault_Handler, Fault_Handler, Fault_Handler, Fault_Handler, Fault_Handler, Fault_Handler,
     Fault_Handler, Fault_Handler, Fault_Handler, Fault_Handler, Fault_Handler, Fault_Handler,
     Fault_Handler, Fault_Handler, Fault_Handler, Fault_Handler, Fault_Handler, kws_irq_pdm,
     Fault_Handler, Fault_Handler, Fault_Handler, Fault_Handler, Fault_Handler, Fault_Handler,
     Fault_Handler, Fault_Handler, Fault_Handler, Fault_Handler, Fault_Handler, Fault_Handler,
     Fault_Handler, Fault_Handler, Fault_Handler, Fault_Handler, Fault_Handler, Fault_Handler},
};

#define SCB_CPACR (*(volatile uint32_t *)0xE000ED88u)
#define SCB_VTOR (*(volatile uint32_t *)0xE000ED08u)
#define NVIC_ICER(n) (*(volatile uint32_t *)(0xE000E180u + 4u * (n)))
#define NVIC_ICPR(n) (*(volatile uint32_t *)(0xE000E280u + 4u * (n)))

void Reset_Handler(void)
{
    const uint32_t *src = &_sidata;
    uint32_t *dst;

    /* CP10 and CP11 full access, before any code may touch the FPU (the build uses the hard-float ABI). */
    SCB_CPACR |= 0xFu << 20;
    /* The bootloader ran with its own vector table and interrupts (USB): ours from now on, theirs off. */
    __asm__ volatile("cpsid i" ::: "memory");
    SCB_VTOR = (uint32_t)(uintptr_t)&kws_vectors;
    NVIC_ICER(0) = 0xFFFFFFFFu;
    NVIC_ICER(1) = 0xFFFFFFFFu;
    NVIC_ICPR(0) = 0xFFFFFFFFu;
    NVIC_ICPR(1) = 0xFFFFFFFFu;
    __asm__ volatile("dsb\n\tisb" ::: "memory");
    for (dst = &_sdata; dst < &_edata;) {
        *dst++ = *src++;
    }
    for (dst = &_sbss; dst < &_ebss;) {
        *dst++ = 0;
    }
    __asm__ volatile("cpsie i" ::: "memory");
    kws_board_exit(main());
}

void Fault_Handler(void)
{
    kws_board_puts("nano33ble: unexpected exception (fault)\r\n");
    kws_board_exit(3);
}
