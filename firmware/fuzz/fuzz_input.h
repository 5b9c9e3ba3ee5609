/* What every fuzz target shares: reading typed values off the fuzzer's bytes, and failing loudly.
 *
 * A read past the end yields zeros instead of stopping, so every input, however short, is a complete test
 * case and the fuzzer never wastes executions on "too short" rejections. FUZZ_CHECK aborts: libFuzzer saves
 * the input that broke an invariant exactly as it does for a sanitizer report. */
#ifndef FUZZ_INPUT_H
#define FUZZ_INPUT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct {
    const uint8_t *p;
    size_t left;
} fuzz_input_t;

#define FUZZ_CHECK(cond)                                                                                        \
    do {                                                                                                        \
        if (!(cond)) {                                                                                          \
            fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, #cond);                         \
            abort();                                                                                            \
        }                                                                                                       \
    } while (0)

static inline uint8_t fuzz_u8(fuzz_input_t *in)
{
    if (in->left == 0) {
        return 0;
    }
    in->left--;
    return *in->p++;
}

static inline uint16_t fuzz_u16(fuzz_input_t *in)
{
    const uint16_t lo = fuzz_u8(in);
    return (uint16_t)(lo | (uint16_t)fuzz_u8(in) << 8);
}

static inline uint32_t fuzz_u32(fuzz_input_t *in)
{
    const uint32_t lo = fuzz_u16(in);
    return lo | (uint32_t)fuzz_u16(in) << 16;
}

static inline int16_t fuzz_i16(fuzz_input_t *in)
{
    return (int16_t)fuzz_u16(in);
}

/* An integer in lo .. hi (hi - lo < 2^32), from 4 bytes: the fuzzer's value-profile guidance sees the bytes. */
static inline int64_t fuzz_range(fuzz_input_t *in, int64_t lo, int64_t hi)
{
    return lo + (int64_t)(fuzz_u32(in) % (uint64_t)(hi - lo + 1));
}

/* Small integers cost one byte. */
static inline int32_t fuzz_small(fuzz_input_t *in, int32_t lo, int32_t hi)
{
    return lo + (int32_t)(fuzz_u8(in) % (uint32_t)(hi - lo + 1));
}

#endif /* FUZZ_INPUT_H */
