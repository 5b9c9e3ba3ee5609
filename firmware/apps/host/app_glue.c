/* Host glue of the keyword app: `kws_app FILE.wav [--scores]` with stdio files. */
#include <stdio.h>
#include <string.h>

#include "kws_app.h"

#define MAX_FILES 4

static FILE *g_files[MAX_FILES];

int kws_app_open(const char *path)
{
    int i;
    for (i = 0; i < MAX_FILES; ++i) {
        if (g_files[i] == NULL) {
            g_files[i] = fopen(path, "rb");
            return g_files[i] != NULL ? i : -1;
        }
    }
    return -1;
}

long kws_app_read(int handle, void *buf, long bytes)
{
    if (handle < 0 || handle >= MAX_FILES || g_files[handle] == NULL || bytes < 0) {
        return -1;
    }
    return (long)fread(buf, 1, (size_t)bytes, g_files[handle]);
}

void kws_app_close(int handle)
{
    if (handle >= 0 && handle < MAX_FILES && g_files[handle] != NULL) {
        fclose(g_files[handle]);
        g_files[handle] = NULL;
    }
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fputs("usage: kws_app FILE.wav [--scores]\n", stderr);
        return 2;
    }
    return kws_app_main(argv[1], argc > 2 && strcmp(argv[2], "--scores") == 0 ? KWS_APP_SCORES : 0);
}
