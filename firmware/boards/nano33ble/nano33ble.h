/* The Arduino Nano 33 BLE Sense board (nRF52840): what its startup, board.c and the always-listening glue
 * share. Pins from the Arduino mbed core's variant for this board (ArduinoCore-mbed,
 * variants/ARDUINO_NANO33BLE/variant.cpp, matching the board's published schematic): */
#ifndef KWS_NANO33BLE_H
#define KWS_NANO33BLE_H

#include "nano33ble/nrf52840.h"

#define KWS_NANO_PDM_CLK KWS_NRF_PIN(0, 26) /* MP34DT05 CLK: P0.26 ("PDM CLK") */
#define KWS_NANO_PDM_DIN KWS_NRF_PIN(0, 25) /* MP34DT05 DOUT: P0.25 ("PDM DIN") */
#define KWS_NANO_MIC_PWR_PORT KWS_NRF_P0    /* microphone supply: P0.17 ("PDM PWR"), driven high */
#define KWS_NANO_MIC_PWR_PIN 17u
#define KWS_NANO_LED_PORT KWS_NRF_P0        /* LED_BUILTIN (D13, the orange LED): P0.13, active high */
#define KWS_NANO_LED_PIN 13u
#define KWS_NANO_UART_TX KWS_NRF_PIN(1, 3)  /* the header's TX pin (Serial1): P1.03 */

/* Clocks (HFXO), LED, microphone power and the UART: once, before anything else. */
void kws_nano_init(void);
void kws_nano_led(int on);
/* The PDM interrupt's handler (startup.c's vector table; weak there, a fault unless the image defines it). */
void kws_irq_pdm(void);

#endif /* KWS_NANO33BLE_H */
