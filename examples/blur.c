/*
 * blur.c — image processing with twill_parallel_for: a box blur of a PGM file.
 *
 * Reads a binary 8-bit PGM (P5), blurs it with a separable box filter of the
 * given radius (a horizontal pass into a scratch image, then a vertical pass;
 * edges are clamped), and writes the result.  Each pass is one
 * twill_parallel_for over the rows: a chunk of rows is independent of every
 * other, so the loop splits the image among the workers, with grain 0
 * leaving the chunk size to twill.
 *
 * The same passes with pool NULL, outside any worker, run serially; the
 * program compares the two results byte for byte and prints a checksum.
 *
 * Usage: blur --generate WIDTH HEIGHT OUT.pgm   write a test pattern
 *        blur IN.pgm OUT.pgm [RADIUS]           blur (default radius 2)
 * Exits 1 on an I/O error or when the parallel and serial results differ.
 */
#define _POSIX_C_SOURCE 200809L
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "example.h"
#include "twill.h"

enum { MAX_SIDE = 1 << 14, MAX_RADIUS = 64 };

typedef struct image {
    size_t w, h;
    unsigned char *px; /* row-major, w * h bytes */
} image;

/* One pass of the filter: dst = mean of src over 2r+1 pixels along (dx, dy). */
typedef struct pass {
    const image *src;
    image *dst;
    long radius, dx, dy;
} pass;

static bool image_alloc(image *img, size_t w, size_t h)
{
    img->w = w;
    img->h = h;
    img->px = malloc(w * h);
    return img->px != NULL;
}

/* Next header number of a PGM, skipping white space and # comments; 0 on error. */
static size_t pgm_number(FILE *f)
{
    int c = fgetc(f);
    while (isspace(c) || c == '#') {
        if (c == '#')
            while (c != '\n' && c != EOF)
                c = fgetc(f);
        c = fgetc(f);
    }
    size_t v = 0;
    for (; isdigit(c) && v <= MAX_SIDE; c = fgetc(f))
        v = v * 10 + (size_t)(c - '0');
    return isspace(c) ? v : 0; /* one white-space byte ends the number */
}

static bool image_read(image *img, const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return false;
    bool ok = fgetc(f) == 'P' && fgetc(f) == '5';
    size_t w = ok ? pgm_number(f) : 0, h = w ? pgm_number(f) : 0;
    size_t maxval = h ? pgm_number(f) : 0;
    ok = w && h && maxval && maxval <= 255 && image_alloc(img, w, h);
    if (ok && fread(img->px, 1, w * h, f) != w * h) {
        free(img->px);
        ok = false;
    }
    fclose(f);
    return ok;
}

static bool image_write(const image *img, const char *path)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return false;
    bool ok = fprintf(f, "P5\n%zu %zu\n255\n", img->w, img->h) > 0 &&
              fwrite(img->px, 1, img->w * img->h, f) == img->w * img->h;
    return fclose(f) == 0 && ok;
}

/* A test pattern with hard edges: a checkerboard, a ramp and a disc. */
static void image_pattern(image *img)
{
    long w = (long)img->w, h = (long)img->h, r = (w < h ? w : h) / 3;
    for (long y = 0; y < h; y++)
        for (long x = 0; x < w; x++) {
            long cx = x - w / 2, cy = y - h / 2;
            unsigned v = ((x / 16 + y / 16) % 2) ? 200 : 40;
            if (cx * cx + cy * cy < r * r)
                v = (unsigned)(255 * x / w);
            img->px[y * w + x] = (unsigned char)v;
        }
}

static long clamp(long v, long hi)
{
    return v < 0 ? 0 : v > hi ? hi : v;
}

/* twill_range_fn: rows [y0, y1) of one pass. */
static int blur_rows(void *ctx, size_t y0, size_t y1)
{
    const pass *p = ctx;
    long w = (long)p->src->w, h = (long)p->src->h, r = p->radius;
    for (long y = (long)y0; y < (long)y1; y++)
        for (long x = 0; x < w; x++) {
            unsigned sum = 0;
            for (long k = -r; k <= r; k++)
                sum += p->src->px[clamp(y + k * p->dy, h - 1) * w + clamp(x + k * p->dx, w - 1)];
            p->dst->px[y * w + x] = (unsigned char)((sum + (unsigned)r) / (unsigned)(2 * r + 1));
        }
    return 0;
}

/* Blur src into dst through tmp; pool NULL: serially on this thread. */
static int blur(twill_pool *pool, const image *src, image *tmp, image *dst, long radius)
{
    pass across = {src, tmp, radius, 1, 0}, down = {tmp, dst, radius, 0, 1};
    int rc = twill_parallel_for(pool, 0, src->h, 0, blur_rows, &across);
    return rc ? rc : twill_parallel_for(pool, 0, src->h, 0, blur_rows, &down);
}

/* FNV-1a over the pixels: a short fingerprint to compare runs by eye. */
static uint32_t checksum(const image *img)
{
    uint32_t hash = 2166136261u;
    for (size_t i = 0; i < img->w * img->h; i++)
        hash = (hash ^ img->px[i]) * 16777619u;
    return hash;
}

static int generate(const char *w, const char *h, const char *path)
{
    image img;
    size_t width = strtoull(w, NULL, 10), height = strtoull(h, NULL, 10);
    if (width == 0 || height == 0 || width > MAX_SIDE || height > MAX_SIDE ||
        !image_alloc(&img, width, height)) {
        fprintf(stderr, "blur: bad size %s x %s\n", w, h);
        return 1;
    }
    image_pattern(&img);
    bool ok = image_write(&img, path);
    printf("blur: wrote a %zux%zu test pattern to %s\n", width, height, path);
    free(img.px);
    return ok ? 0 : 1;
}

static int run(const char *in, const char *out, long radius)
{
    image src, tmp, par, ser;
    if (!image_read(&src, in)) {
        fprintf(stderr, "blur: cannot read %s as an 8-bit binary PGM\n", in);
        return 1;
    }
    if (!image_alloc(&tmp, src.w, src.h) || !image_alloc(&par, src.w, src.h) ||
        !image_alloc(&ser, src.w, src.h)) {
        fprintf(stderr, "blur: out of memory\n");
        return 1;
    }
    twill_pool *pool;
    example_check(twill_pool_create(&pool, NULL), "twill_pool_create");
    double t0 = example_now_ms();
    example_check(blur(pool, &src, &tmp, &par, radius), "parallel blur");
    double t1 = example_now_ms();
    example_check(blur(NULL, &src, &tmp, &ser, radius), "serial blur");
    double t2 = example_now_ms();
    bool same = memcmp(par.px, ser.px, src.w * src.h) == 0;
    bool written = image_write(&par, out);
    printf("blur: %zux%zu radius %ld on %u workers in %.1f ms (serial %.1f ms), "
           "checksum %08x: %s\n", src.w, src.h, radius, twill_pool_size(pool), t1 - t0,
           t2 - t1, checksum(&par), same ? "matches serial, OK" : "DIFFERS from serial");
    if (!written)
        fprintf(stderr, "blur: cannot write %s\n", out);
    twill_pool_destroy(pool);
    free(src.px);
    free(tmp.px);
    free(par.px);
    free(ser.px);
    return same && written ? 0 : 1;
}

int main(int argc, char **argv)
{
    if (argc == 5 && strcmp(argv[1], "--generate") == 0)
        return generate(argv[2], argv[3], argv[4]);
    long radius = argc == 4 ? strtol(argv[3], NULL, 10) : 2;
    if ((argc != 3 && argc != 4) || radius < 1 || radius > MAX_RADIUS) {
        fprintf(stderr, "usage: blur --generate WIDTH HEIGHT OUT.pgm\n"
                        "       blur IN.pgm OUT.pgm [RADIUS 1..%d]\n", MAX_RADIUS);
        return 1;
    }
    return run(argv[1], argv[2], radius);
}
