/* Host board: stdio files and console, exit(). */
#include <stdio.h>
#include <stdlib.h>

#include "kws_board.h"

long kws_board_read_file(const char *path, void *buf, long cap)
{
    FILE *f = fopen(path, "rb");
    long size;

    if (f == NULL) {
        return -1;
    }
    if (fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) < 0 || size > cap || fseek(f, 0, SEEK_SET) != 0 ||
        fread(buf, 1, (size_t)size, f) != (size_t)size) {
        fclose(f);
        return -1;
    }
    fclose(f);
    return size;
}

void kws_board_puts(const char *s)
{
    fputs(s, stdout);
    fflush(stdout);
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
    exit(status);
}
