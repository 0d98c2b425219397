/*
 * image_service.c — a directory of PNG images processed by a pool: the
 * worker-pool pattern's image-processing exercise with real files.
 *
 * One task group per batch (every file of the input directory), one group
 * task per file.  A task decodes its PNG (libpng's simplified API), runs
 * the filters in order, each a twill_parallel_for over the rows of the
 * image (a nested loop inside the group task: rows spread over the idle
 * workers), and writes the result to the output directory.  Filters:
 *   gray    luma (ITU-R BT.601 weights, integer), kept as RGB;
 *   blur    3x3 box blur, edges clamped;
 *   half    resize to half width and height, 2x2 box average.
 * A file that cannot be read as a PNG (truncated, not a PNG at all) is an
 * error for that file only: it is reported and counted, never a crash.  With
 * --cancel-on-error the first such error cancels the batch: tasks not yet
 * started are skipped, reported through the pool's discard hook.
 *
 * --check runs every filter chain a second time serially (the same code
 * with pool NULL, outside any worker) and compares the pixels of each
 * written file with it byte for byte.
 *
 * Usage: image_service --generate DIR N     N test images plus two broken files
 *        image_service [--filters gray,blur,half] [--cancel-on-error] [--check]
 *                      [--expect-errors K] IN_DIR OUT_DIR
 * Prints one line per file and a summary; exits 1 when a check fails or the
 * number of failed files is not K (default 0).
 */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <errno.h>
#include <png.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "example.h"
#include "twill.h"

enum { MAX_FILES = 4096, MAX_FILTERS = 8, PATH_LEN = 4096 };

typedef enum { F_GRAY, F_BLUR, F_HALF } filter;

typedef struct rgb_image {
    size_t w, h;
    unsigned char *px; /* RGB, row-major, 3 * w * h bytes */
} rgb_image;

typedef struct service {
    twill_pool *pool;
    twill_group batch;
    const char *in_dir, *out_dir;
    filter filters[MAX_FILTERS];
    int nfilters;
    bool cancel_on_error, check;
    _Atomic int failed, skipped, done, mismatched;
} service;

typedef struct job {
    service *svc;
    char name[256];
} job;

/* ------------------------------------------------------------ filters -- */

typedef struct rows {
    const rgb_image *src;
    rgb_image *dst;
    filter f;
} rows;

static int filter_rows(void *ctx, size_t begin, size_t end)
{
    const rows *r = ctx;
    const rgb_image *s = r->src;
    rgb_image *d = r->dst;
    for (size_t y = begin; y < end; y++) {
        for (size_t x = 0; x < d->w; x++) {
            unsigned char *out = &d->px[3 * (y * d->w + x)];
            if (r->f == F_GRAY) {
                const unsigned char *in = &s->px[3 * (y * s->w + x)];
                unsigned char l = (unsigned char)((299 * in[0] + 587 * in[1] + 114 * in[2]) / 1000);
                out[0] = out[1] = out[2] = l;
                continue;
            }
            for (int c = 0; c < 3; c++) {
                unsigned sum = 0, n = 0;
                if (r->f == F_BLUR) {
                    for (long dy = -1; dy <= 1; dy++)
                        for (long dx = -1; dx <= 1; dx++) {
                            long yy = (long)y + dy, xx = (long)x + dx;
                            yy = yy < 0 ? 0 : yy >= (long)s->h ? (long)s->h - 1 : yy;
                            xx = xx < 0 ? 0 : xx >= (long)s->w ? (long)s->w - 1 : xx;
                            sum += s->px[3 * ((size_t)yy * s->w + (size_t)xx) + (size_t)c];
                            n++;
                        }
                } else { /* F_HALF */
                    for (size_t dy = 0; dy < 2; dy++)
                        for (size_t dx = 0; dx < 2; dx++) {
                            sum += s->px[3 * ((2 * y + dy) * s->w + 2 * x + dx) + (size_t)c];
                            n++;
                        }
                }
                out[c] = (unsigned char)((sum + n / 2) / n);
            }
        }
    }
    return 0;
}

/* Apply f to *img in place (a new buffer).  pool NULL: serially. */
static int apply(twill_pool *pool, filter f, rgb_image *img)
{
    rgb_image out = {img->w, img->h, NULL};
    if (f == F_HALF) {
        out.w = img->w / 2 > 0 ? img->w / 2 : 1;
        out.h = img->h / 2 > 0 ? img->h / 2 : 1;
        if (img->w < 2 || img->h < 2)
            f = F_BLUR; /* too small to halve: a blur keeps the chain total */
    }
    out.px = malloc(3 * out.w * out.h);
    if (out.px == NULL)
        return ENOMEM;
    rows r = {img, &out, f};
    int rc = twill_parallel_for(pool, 0, out.h, 0, filter_rows, &r);
    free(img->px);
    *img = out;
    return rc;
}

static int run_chain(twill_pool *pool, const service *svc, rgb_image *img)
{
    for (int i = 0; i < svc->nfilters; i++) {
        int rc = apply(pool, svc->filters[i], img);
        if (rc != 0)
            return rc;
    }
    return 0;
}

/* ---------------------------------------------------------------- PNG -- */

/* Read path as RGB.  0, or -1 with a reason in msg. */
static int read_png(const char *path, rgb_image *img, char *msg, size_t msglen)
{
    png_image pi;
    memset(&pi, 0, sizeof pi);
    pi.version = PNG_IMAGE_VERSION;
    if (!png_image_begin_read_from_file(&pi, path)) {
        snprintf(msg, msglen, "%s", pi.message);
        return -1;
    }
    pi.format = PNG_FORMAT_RGB;
    img->w = pi.width;
    img->h = pi.height;
    img->px = malloc(PNG_IMAGE_SIZE(pi));
    if (img->px == NULL) {
        png_image_free(&pi);
        snprintf(msg, msglen, "out of memory");
        return -1;
    }
    if (!png_image_finish_read(&pi, NULL, img->px, 0, NULL)) {
        snprintf(msg, msglen, "%s", pi.message);
        free(img->px);
        img->px = NULL;
        return -1;
    }
    return 0;
}

static int write_png(const char *path, const rgb_image *img, char *msg, size_t msglen)
{
    png_image pi;
    memset(&pi, 0, sizeof pi);
    pi.version = PNG_IMAGE_VERSION;
    pi.width = (png_uint_32)img->w;
    pi.height = (png_uint_32)img->h;
    pi.format = PNG_FORMAT_RGB;
    if (!png_image_write_to_file(&pi, path, 0, img->px, 0, NULL)) {
        snprintf(msg, msglen, "%s", pi.message);
        return -1;
    }
    return 0;
}

/* --------------------------------------------------------------- tasks -- */

/* The group task for one file.  Nonzero only with --cancel-on-error, so
   that the first failure cancels the batch. */
static int process_file(void *arg)
{
    job *j = arg;
    service *svc = j->svc;
    char in[PATH_LEN], out[PATH_LEN], msg[256] = "";
    snprintf(in, sizeof in, "%s/%s", svc->in_dir, j->name);
    snprintf(out, sizeof out, "%s/%s", svc->out_dir, j->name);
    rgb_image img = {0};
    double t0 = example_now_ms();
    int rc = read_png(in, &img, msg, sizeof msg);
    if (rc == 0 && (rc = run_chain(twill_current_pool(), svc, &img)) != 0)
        snprintf(msg, sizeof msg, "%s", twill_strerror(rc));
    if (rc == 0)
        rc = write_png(out, &img, msg, sizeof msg);
    if (rc != 0) {
        printf("error  %-24s %s\n", j->name, msg);
        atomic_fetch_add(&svc->failed, 1);
        free(img.px);
        return svc->cancel_on_error ? EIO : 0;
    }
    printf("ok     %-24s %zux%zu in %.1f ms\n", j->name, img.w, img.h, example_now_ms() - t0);
    free(img.px);
    atomic_fetch_add(&svc->done, 1);
    return 0;
}

static void on_discard(twill_fn fn, void *arg, void *ctx)
{
    (void)fn;
    service *svc = ctx;
    printf("skip   %-24s (batch cancelled)\n", ((job *)arg)->name);
    atomic_fetch_add(&svc->skipped, 1);
}

/* Serial re-run of the chain for each written file; 0 when all match. */
static int check_outputs(service *svc, job *jobs, int n)
{
    int bad = 0;
    for (int i = 0; i < n; i++) {
        char in[PATH_LEN], out[PATH_LEN], msg[256];
        snprintf(in, sizeof in, "%s/%s", svc->in_dir, jobs[i].name);
        snprintf(out, sizeof out, "%s/%s", svc->out_dir, jobs[i].name);
        rgb_image want = {0}, got = {0};
        if (read_png(in, &want, msg, sizeof msg) != 0)
            continue; /* a broken input: reported as such already */
        if (read_png(out, &got, msg, sizeof msg) != 0) {
            if (!svc->cancel_on_error) {
                printf("check  %-24s no output: %s\n", jobs[i].name, msg);
                bad++;
            }
            free(want.px);
            continue;
        }
        example_check(run_chain(NULL, svc, &want), "serial filters");
        if (want.w != got.w || want.h != got.h || memcmp(want.px, got.px, 3 * want.w * want.h)) {
            printf("check  %-24s pixels differ from the serial run\n", jobs[i].name);
            bad++;
        }
        free(want.px);
        free(got.px);
    }
    return bad;
}

/* ------------------------------------------------------------ generate -- */

static void generate(const char *dir, int n)
{
    mkdir(dir, 0755);
    char path[PATH_LEN], msg[256];
    for (int i = 0; i < n; i++) {
        rgb_image img = {64 + (size_t)(example_random((uint64_t)i) % 400),
                         48 + (size_t)(example_random((uint64_t)i + 7777) % 300), NULL};
        img.px = malloc(3 * img.w * img.h);
        if (img.px == NULL)
            exit(1);
        for (size_t k = 0; k < 3 * img.w * img.h; k++)
            img.px[k] = (unsigned char)(example_random((uint64_t)i * 1000003u + k) >> 56);
        snprintf(path, sizeof path, "%s/img%03d.png", dir, i);
        if (write_png(path, &img, msg, sizeof msg) != 0) {
            fprintf(stderr, "%s: %s\n", path, msg);
            exit(1);
        }
        free(img.px);
    }
    /* Broken inputs: a PNG cut in half, and a text file named .png. */
    snprintf(path, sizeof path, "%s/img000.png", dir);
    FILE *f = fopen(path, "rb");
    char buf[1 << 16];
    size_t len = f != NULL ? fread(buf, 1, sizeof buf, f) : 0;
    if (f != NULL)
        fclose(f);
    snprintf(path, sizeof path, "%s/broken_truncated.png", dir);
    f = fopen(path, "wb");
    if (f == NULL || fwrite(buf, 1, len / 2, f) != len / 2)
        exit(1);
    fclose(f);
    snprintf(path, sizeof path, "%s/broken_text.png", dir);
    f = fopen(path, "w");
    if (f == NULL || fputs("this is not a PNG file\n", f) < 0)
        exit(1);
    fclose(f);
    printf("wrote %d images and 2 broken files to %s\n", n, dir);
}

/* ---------------------------------------------------------------- main -- */

static int parse_filters(service *svc, char *list)
{
    svc->nfilters = 0;
    for (char *tok = strtok(list, ","); tok != NULL; tok = strtok(NULL, ",")) {
        if (svc->nfilters == MAX_FILTERS)
            return -1;
        if (strcmp(tok, "gray") == 0)
            svc->filters[svc->nfilters++] = F_GRAY;
        else if (strcmp(tok, "blur") == 0)
            svc->filters[svc->nfilters++] = F_BLUR;
        else if (strcmp(tok, "half") == 0)
            svc->filters[svc->nfilters++] = F_HALF;
        else
            return -1;
    }
    return svc->nfilters > 0 ? 0 : -1;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(((const job *)a)->name, ((const job *)b)->name);
}

int main(int argc, char **argv)
{
    if (argc == 4 && strcmp(argv[1], "--generate") == 0) {
        generate(argv[2], atoi(argv[3]));
        return 0;
    }
    static service svc;
    char default_filters[] = "gray,blur,half";
    parse_filters(&svc, default_filters);
    int expect_errors = 0, a = 1;
    for (; a < argc && strncmp(argv[a], "--", 2) == 0; a++) {
        if (strcmp(argv[a], "--cancel-on-error") == 0)
            svc.cancel_on_error = true;
        else if (strcmp(argv[a], "--check") == 0)
            svc.check = true;
        else if (strcmp(argv[a], "--filters") == 0 && a + 1 < argc && parse_filters(&svc, argv[a + 1]) == 0)
            a++;
        else if (strcmp(argv[a], "--expect-errors") == 0 && a + 1 < argc)
            expect_errors = atoi(argv[++a]);
        else
            break;
    }
    if (argc - a != 2) {
        fprintf(stderr, "usage: %s --generate DIR N\n"
                        "       %s [--filters gray,blur,half] [--cancel-on-error] [--check]\n"
                        "          [--expect-errors K] IN_DIR OUT_DIR\n", argv[0], argv[0]);
        return 2;
    }
    svc.in_dir = argv[a];
    svc.out_dir = argv[a + 1];
    mkdir(svc.out_dir, 0755);

    static job jobs[MAX_FILES];
    int n = 0;
    DIR *d = opendir(svc.in_dir);
    if (d == NULL) {
        fprintf(stderr, "%s: %s\n", svc.in_dir, strerror(errno));
        return 1;
    }
    for (struct dirent *e; (e = readdir(d)) != NULL && n < MAX_FILES;) {
        size_t len = strlen(e->d_name);
        if (len > 4 && len < sizeof jobs[0].name && strcmp(e->d_name + len - 4, ".png") == 0) {
            jobs[n].svc = &svc;
            memcpy(jobs[n].name, e->d_name, len + 1);
            n++;
        }
    }
    closedir(d);
    qsort(jobs, (size_t)n, sizeof jobs[0], by_name);

    twill_config cfg;
    twill_config_init(&cfg);
    cfg.discard = on_discard;
    cfg.discard_ctx = &svc;
    example_check(twill_pool_create(&svc.pool, &cfg), "twill_pool_create");
    example_check(twill_group_init(&svc.batch, svc.pool), "twill_group_init");
    double t0 = example_now_ms();
    for (int i = 0; i < n; i++)
        example_check(twill_group_spawn(&svc.batch, process_file, &jobs[i]), "twill_group_spawn");
    int rc = twill_group_wait(&svc.batch);
    double ms = example_now_ms() - t0;
    unsigned workers = twill_pool_size(svc.pool);
    twill_pool_destroy(svc.pool);

    printf("batch: %d files, %d written, %d failed, %d skipped in %.1f ms on %u workers (%s)\n",
           n, atomic_load(&svc.done), atomic_load(&svc.failed), atomic_load(&svc.skipped), ms,
           workers, rc == 0 ? "complete" : strerror(rc));
    int bad = 0;
    if (svc.check) {
        bad = check_outputs(&svc, jobs, n);
        printf("check: %s\n", bad == 0 ? "every written file matches the serial filters" : "FAILED");
    }
    if (!svc.cancel_on_error && atomic_load(&svc.failed) != expect_errors) {
        printf("expected %d failed files\n", expect_errors);
        bad++;
    }
    if (svc.cancel_on_error && rc != (expect_errors > 0 ? EIO : 0)) {
        printf("expected the batch to %s\n", expect_errors > 0 ? "fail with the first error" : "succeed");
        bad++;
    }
    if (atomic_load(&svc.done) + atomic_load(&svc.failed) + atomic_load(&svc.skipped) != n) {
        printf("some files were neither written, failed nor skipped\n");
        bad++;
    }
    return bad != 0;
}
