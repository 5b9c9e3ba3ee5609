/* memcpy / memmove / memset for the WebAssembly build (no C library). With -mbulk-memory clang turns the
 * builtins into the memory.copy / memory.fill instructions, so these never call themselves; the engine and
 * the compiler's own struct copies reach them by name. */
#include <string.h>

void *memcpy(void *dst, const void *src, size_t n)
{
    return __builtin_memmove(dst, src, n); /* memory.copy allows overlap: one instruction serves both */
}

void *memmove(void *dst, const void *src, size_t n)
{
    return __builtin_memmove(dst, src, n);
}

void *memset(void *dst, int c, size_t n)
{
    return __builtin_memset(dst, c, n);
}
