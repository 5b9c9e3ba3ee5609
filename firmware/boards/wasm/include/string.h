/* The little of <string.h> the engine uses, for the WebAssembly build, which has no C library
 * (clang --target=wasm32 -ffreestanding -nostdlib). Defined in boards/wasm/libc.c. */
#ifndef KWS_WASM_STRING_H
#define KWS_WASM_STRING_H

#include <stddef.h>

void *memcpy(void *dst, const void *src, size_t n);
void *memmove(void *dst, const void *src, size_t n);
void *memset(void *dst, int c, size_t n);

#endif /* KWS_WASM_STRING_H */
