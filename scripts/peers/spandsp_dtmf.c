/* spandsp_dtmf: a small driver that runs spandsp's DTMF receiver over a WAV
 * file (16-bit PCM mono, 8 kHz, canonical or not) for voxcap's peer
 * comparison. It prints one JSON line per digit, {"digit","start","end"} in
 * samples, then a line with the throughput measured over `repeat` passes of
 * the whole file held in memory, so that I/O is not part of the figure.
 *
 * Build: cc -O2 -o spandsp_dtmf spandsp_dtmf.c -lspandsp -lm
 * Usage: spandsp_dtmf FILE.wav [repeat]
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <spandsp.h>

struct ctx {
    long pos;          /* absolute sample index of the block being processed */
    int current;       /* digit currently sounding, or 0 */
    long start;        /* its start */
    int print;
};

static void realtime(void *user_data, int code, int level, int delay)
{
    struct ctx *c = user_data;
    (void) level;
    /* spandsp confirms a change after two 102-sample blocks; report when it happened. */
    long at = c->pos - 204; (void) delay;
    if (at < 0)
        at = 0;
    if (c->current && c->print)
        printf("{\"digit\":\"%c\",\"start\":%ld,\"end\":%ld}\n", c->current, c->start, at);
    c->current = code;
    c->start = at;
}

static int16_t *read_wav(const char *path, long *n)
{
    FILE *f = fopen(path, "rb");
    if (!f) { perror(path); exit(1); }
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *buf = malloc(size);
    if (fread(buf, 1, size, f) != (size_t) size) { fprintf(stderr, "%s: short read\n", path); exit(1); }
    fclose(f);
    if (size < 12 || memcmp(buf, "RIFF", 4) || memcmp(buf + 8, "WAVE", 4)) {
        fprintf(stderr, "%s: not a RIFF/WAVE file\n", path); exit(1);
    }
    long p = 12;
    while (p + 8 <= size) {
        uint32_t len = buf[p + 4] | buf[p + 5] << 8 | buf[p + 6] << 16 | (uint32_t) buf[p + 7] << 24;
        if (!memcmp(buf + p, "fmt ", 4)) {
            int fmt = buf[p + 8] | buf[p + 9] << 8, ch = buf[p + 10] | buf[p + 11] << 8;
            int rate = buf[p + 12] | buf[p + 13] << 8 | buf[p + 14] << 16;
            int bits = buf[p + 22] | buf[p + 23] << 8;
            if (fmt != 1 || ch != 1 || rate != 8000 || bits != 16) {
                fprintf(stderr, "%s: need 16-bit PCM mono 8 kHz\n", path); exit(1);
            }
        } else if (!memcmp(buf + p, "data", 4)) {
            long avail = size - p - 8;
            if (len > avail) len = avail;
            *n = len / 2;
            int16_t *s = malloc(*n * 2 + 2);
            memcpy(s, buf + p + 8, *n * 2);
            free(buf);
            return s;
        }
        p += 8 + len + (len & 1);
    }
    fprintf(stderr, "%s: no data chunk\n", path);
    exit(1);
}

static void run(int16_t *s, long n, struct ctx *c)
{
    dtmf_rx_state_t *rx = dtmf_rx_init(NULL, NULL, NULL);
    dtmf_rx_set_realtime_callback(rx, realtime, c);
    c->current = 0;
    for (long i = 0; i < n; i += 102) {
        int len = n - i < 102 ? (int) (n - i) : 102;
        c->pos = i + len;
        dtmf_rx(rx, s + i, len);
    }
    /* Flush a digit still sounding at the end of the file. */
    int16_t zeros[160] = {0};
    for (int k = 0; k < 10; k++) {
        c->pos = n + (k + 1) * 160;
        dtmf_rx(rx, zeros, 160);
    }
    dtmf_rx_free(rx);
}

int main(int argc, char **argv)
{
    if (argc < 2) { fprintf(stderr, "usage: %s FILE.wav [repeat]\n", argv[0]); return 2; }
    int repeat = argc > 2 ? atoi(argv[2]) : 0;
    long n;
    int16_t *s = read_wav(argv[1], &n);
    struct ctx c = {0};
    c.print = 1;
    run(s, n, &c);
    if (repeat > 0) {
        struct ctx quiet = {0};
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        for (int r = 0; r < repeat; r++)
            run(s, n, &quiet);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        double secs = (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
        printf("{\"samples_per_s\":%.0f}\n", (double) n * repeat / secs);
    }
    free(s);
    return 0;
}
