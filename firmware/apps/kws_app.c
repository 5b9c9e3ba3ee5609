/* Keyword app: a 16 kHz mono int16 WAV streamed through the engine in small chunks, one console line per
 * detection, as `tinykws firmware run` parses them:
 *
 *   state frontend <bytes> network <bytes> detector <bytes> engine <bytes>
 *   det <hop> <class> <score_sum>
 *   hop <hop> <logit>... [<sum>...]     (with KWS_APP_SCORES, once the hop has logits)
 *   end <hops> <samples>
 *
 * Board-independent: the glue provides main() and file reads (kws_app.h), the console is kws_board.h. */
#include "kws_app.h"

#include <stdint.h>

#include "kws_board.h"
#include "kws_engine.h"
#include "kws_test_util.h"

#define CHUNK_SAMPLES (2 * KWS_HOP_SAMPLES) /* any size works; RAM is the only reason to keep it small */
#define WAV_FORMAT_PCM 1

static kws_engine_t g_engine;
static int16_t g_chunk[CHUNK_SAMPLES];
static kws_detection_t g_detections[CHUNK_SAMPLES / KWS_HOP_SAMPLES + 2];

static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint32_t le16(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8;
}

static int read_exact(int fd, void *buf, long bytes)
{
    return kws_app_read(fd, buf, bytes) == bytes;
}

/* Drop `bytes` of the file through the chunk buffer (semihosting has a seek, stdio too, but this is enough). */
static int skip(int fd, uint32_t bytes)
{
    while (bytes > 0) {
        const long n = bytes < sizeof(g_chunk) ? (long)bytes : (long)sizeof(g_chunk);
        if (!read_exact(fd, g_chunk, n)) {
            return 0;
        }
        bytes -= (uint32_t)n;
    }
    return 1;
}

/* Walk the RIFF chunks up to "data"; returns its size in bytes, or -1 with a message. */
long kws_app_open_wav(int fd)
{
    uint8_t h[16];
    int have_fmt = 0;

    if (!read_exact(fd, h, 12) || le32(h) != 0x46464952u || le32(h + 8) != 0x45564157u) { /* RIFF, WAVE */
        kws_printf("error: not a WAV file\n");
        return -1;
    }
    for (;;) {
        uint32_t id, size;
        if (!read_exact(fd, h, 8)) {
            kws_printf("error: no data chunk\n");
            return -1;
        }
        id = le32(h);
        size = le32(h + 4);
        if (id == 0x61746164u) { /* "data" */
            if (!have_fmt) {
                kws_printf("error: data chunk before fmt chunk\n");
                return -1;
            }
            /* 0xffffffff ("until the end", streaming writers) would be -1 in a 32-bit long */
            return size > 0x7fffffffu ? 0x7fffffffL : (long)size;
        }
        if (id == 0x20746d66u) { /* "fmt " */
            if (size < 16 || !read_exact(fd, h, 16)) {
                kws_printf("error: truncated fmt chunk\n");
                return -1;
            }
            if (le16(h) != WAV_FORMAT_PCM || le16(h + 2) != 1 || le32(h + 4) != KWS_SAMPLE_RATE ||
                le16(h + 14) != 16) {
                kws_printf("error: need %d Hz mono 16-bit PCM\n", KWS_SAMPLE_RATE);
                return -1;
            }
            have_fmt = 1;
            size -= 16;
        }
        if (!skip(fd, size) || !skip(fd, size & 1u)) { /* the pad byte apart: size + 1 wraps at 0xffffffff */
            kws_printf("error: truncated WAV\n");
            return -1;
        }
    }
}

static void print_hop(void *user, const kws_hop_t *hop)
{
    int k;
    (void)user;
    if (hop->logits == NULL) {
        return;
    }
    kws_printf("hop %u", (unsigned)hop->hop);
    for (k = 0; k < KWS_MODEL_NUM_CLASSES; ++k) {
        kws_printf(" %d", hop->logits[k]);
    }
    for (k = 0; hop->sums != NULL && k < KWS_MODEL_NUM_CLASSES; ++k) {
        kws_printf(" %ld", (long)hop->sums[k]);
    }
    kws_printf("\n");
}

int kws_app_main(const char *path, int flags)
{
    const int fd = kws_app_open(path);
    long left, samples = 0;

    kws_printf("state frontend %u network %u detector %u engine %u\n", (unsigned)KWS_FRONTEND_STATE_BYTES,
               (unsigned)KWS_NETWORK_STATE_BYTES, (unsigned)KWS_DETECTOR_STATE_BYTES, (unsigned)KWS_ENGINE_STATE_BYTES);
    if (fd < 0) {
        kws_printf("error: cannot open %s\n", path);
        return 2;
    }
    left = kws_app_open_wav(fd);
    if (left < 0 || kws_engine_init(&g_engine) != KWS_OK) {
        kws_app_close(fd);
        return 2;
    }
    if (flags & KWS_APP_SCORES) {
        kws_engine_set_hop_callback(&g_engine, print_hop, NULL);
    }
    while (left >= 2) {
        const long want = left < (long)sizeof(g_chunk) ? left & ~1L : (long)sizeof(g_chunk);
        const long got = kws_app_read(fd, g_chunk, want);
        int found, i;
        if (got <= 0) {
            break; /* a data chunk longer than the file: use what is there */
        }
        found = kws_process(&g_engine, g_chunk, (int)(got / 2), g_detections, (int)(sizeof(g_detections) /
                                                                                   sizeof(g_detections[0])));
        for (i = 0; i < found; ++i) {
            kws_printf("det %u %d %ld\n", (unsigned)g_detections[i].hop, (int)g_detections[i].keyword,
                       (long)g_detections[i].score_sum);
        }
        samples += got / 2;
        left -= got;
    }
    kws_app_close(fd);
    kws_printf("end %u %ld\n", (unsigned)g_engine.hops, samples);
    return 0;
}
