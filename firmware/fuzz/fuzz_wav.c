/* Fuzz target: the keyword app's WAV reader (apps/kws_app.c, kws_app_main), unchanged, on any file.
 *
 * This file is the app's board glue (kws_app.h, kws_board.h): the "file" is the fuzzer's input, read from
 * memory, and the console goes into a buffer. Inputs of odd length also ask for the per-hop score lines.
 * A reference reader written here from the RIFF layout (64-bit positions, a chunk's pad byte after an odd
 * size, "fmt " before "data", 16 kHz mono 16-bit PCM) decides what the app must do:
 * - a file it refuses: exit status 2, an "error:" line and no "end" line;
 * - a file it accepts: exit status 0, "end <hops> <samples>" with the samples the data chunk holds (as many
 *   as the file has when the chunk claims more), and the "det" lines of the engine run directly on those
 *   samples (plus one "hop" line per hop with logits when scores were asked for). */
#include <string.h>

#include "fuzz_input.h"
#include "kws_app.h"
#include "kws_board.h"
#include "kws_engine.h"

#define CONSOLE_BYTES (1 << 18)
#define MAX_DETECTIONS 1024

static const uint8_t *g_file;
static size_t g_file_size, g_file_pos;
static int g_open;
static char g_console[CONSOLE_BYTES];
static size_t g_console_len;
static int g_console_full;

int kws_app_open(const char *path)
{
    if (g_open || strcmp(path, "input.wav") != 0) {
        return -1;
    }
    g_open = 1;
    g_file_pos = 0;
    return 0;
}

long kws_app_read(int handle, void *buf, long bytes)
{
    size_t n;
    FUZZ_CHECK(handle == 0 && g_open && bytes >= 0);
    n = g_file_size - g_file_pos < (size_t)bytes ? g_file_size - g_file_pos : (size_t)bytes;
    memcpy(buf, g_file + g_file_pos, n);
    g_file_pos += n;
    return (long)n;
}

void kws_app_close(int handle)
{
    FUZZ_CHECK(handle == 0 && g_open);
    g_open = 0;
}

long kws_board_read_file(const char *path, void *buf, long cap)
{
    (void)path;
    (void)buf;
    (void)cap;
    return -1;
}

void kws_board_puts(const char *s)
{
    const size_t n = strlen(s);
    if (g_console_len + n >= CONSOLE_BYTES) {
        g_console_full = 1;
        return;
    }
    memcpy(g_console + g_console_len, s, n + 1);
    g_console_len += n;
}

void kws_board_timer_start(void)
{
}

uint32_t kws_board_timer_read(void)
{
    return 0;
}

void kws_board_exit(int status)
{
    (void)status;
    abort();
}

static uint32_t le(const uint8_t *p, int bytes)
{
    uint32_t v = 0;
    while (bytes-- > 0) {
        v = v << 8 | p[bytes];
    }
    return v;
}

/* The data chunk's offset and claimed size, or 0 if the app must refuse the file. */
static int reference_wav(const uint8_t *f, size_t size, size_t *data_offset, uint32_t *data_size)
{
    uint64_t pos = 12;
    int have_fmt = 0;
    if (size < 12 || memcmp(f, "RIFF", 4) != 0 || memcmp(f + 8, "WAVE", 4) != 0) {
        return 0;
    }
    for (;;) {
        uint32_t chunk;
        if (pos + 8 > size) {
            return 0;
        }
        chunk = le(f + pos + 4, 4);
        if (memcmp(f + pos, "data", 4) == 0) {
            *data_offset = (size_t)pos + 8;
            *data_size = chunk;
            return have_fmt;
        }
        if (memcmp(f + pos, "fmt ", 4) == 0) {
            const uint8_t *fmt = f + pos + 8;
            if (chunk < 16 || pos + 8 + 16 > size || le(fmt, 2) != 1 || le(fmt + 2, 2) != 1 ||
                le(fmt + 4, 4) != KWS_SAMPLE_RATE || le(fmt + 14, 2) != 16) {
                return 0;
            }
            have_fmt = 1;
        }
        pos += 8 + (uint64_t)chunk + (chunk & 1u);
        if (pos > size) {
            return 0; /* the app reads the whole chunk through before looking further */
        }
    }
}

/* Detections of the engine run directly on the samples; their count. */
static int reference_detections(const uint8_t *bytes, int samples, kws_detection_t *out, uint32_t *hops)
{
    static kws_engine_t s;
    static int16_t chunk[1024];
    int pos = 0, found = 0;
    FUZZ_CHECK(kws_engine_init(&s) == KWS_OK);
    while (pos < samples) {
        const int n = samples - pos < 1024 ? samples - pos : 1024;
        int i, got;
        for (i = 0; i < n; ++i) {
            chunk[i] = (int16_t)le(bytes + 2 * (pos + i), 2);
        }
        got = kws_process(&s, chunk, n, out + found, MAX_DETECTIONS - found);
        FUZZ_CHECK(got >= 0 && found + got <= MAX_DETECTIONS);
        found += got;
        pos += n;
    }
    *hops = s.hops;
    return found;
}

static void check_accepted(const uint8_t *data, size_t size, size_t offset, uint32_t claimed, int scores)
{
    static kws_detection_t want[MAX_DETECTIONS];
    const size_t avail = size - offset;
    const int samples = (int)((claimed < avail ? claimed : avail) / 2);
    const char *line;
    uint32_t hops;
    int found = reference_detections(data + offset, samples, want, &hops), dets = 0, hop_lines = 0, ended = 0;

    for (line = g_console; *line != '\0';) {
        const char *next = strchr(line, '\n');
        unsigned a;
        long b, c;
        FUZZ_CHECK(next != NULL && strncmp(line, "error:", 6) != 0 && !ended);
        if (sscanf(line, "det %u %ld %ld", &a, &b, &c) == 3) {
            FUZZ_CHECK(dets < found && want[dets].hop == a && want[dets].keyword == b && want[dets].score_sum == c);
            ++dets;
        } else if (strncmp(line, "hop ", 4) == 0) {
            ++hop_lines;
        } else if (sscanf(line, "end %u %ld", &a, &b) == 2) {
            FUZZ_CHECK(a == hops && b == samples);
            ended = 1;
        }
        line = next + 1;
    }
    FUZZ_CHECK(ended && dets == found);
    FUZZ_CHECK(hop_lines == (scores && hops >= KWS_MODEL_INPUT_FRAMES ? (int)hops - KWS_MODEL_INPUT_FRAMES + 1 : 0));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const int scores = (int)(size & 1);
    size_t offset = 0;
    uint32_t claimed = 0;
    int status, accepted;

    g_file = data;
    g_file_size = size;
    g_console_len = 0;
    g_console_full = 0;
    g_console[0] = '\0';
    status = kws_app_main("input.wav", scores ? KWS_APP_SCORES : 0);
    FUZZ_CHECK(!g_open && !g_console_full);
    FUZZ_CHECK(strncmp(g_console, "state frontend ", 15) == 0);
    accepted = reference_wav(data, size, &offset, &claimed);
    if (!accepted) {
        FUZZ_CHECK(status == 2 && strstr(g_console, "\nerror: ") != NULL && strstr(g_console, "\nend ") == NULL);
        return 0;
    }
    FUZZ_CHECK(status == 0);
    check_accepted(data, size, offset, claimed, scores);
    return 0;
}
