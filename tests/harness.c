#include "harness.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

#include "internal.h" /* the context's kernel table */
#include "safetensors.h"

#define MAX_TESTS 256
#define SENTINEL 0x7fc0beefu /* a quiet NaN no kernel produces */

typedef struct th_test {
    const char *suite, *name;
    th_fn fn;
} th_test;

static th_test tests[MAX_TESTS];
static int test_count;
static bool failed;
static char fail_msg[2048];
static uint64_t rng_state;
static uint32_t validation_expected;

void th_expect_validation(uint32_t n) { validation_expected += n; }

void th_add(const char *suite, const char *name, th_fn fn)
{
    if (test_count < MAX_TESTS)
        tests[test_count++] = (th_test){suite, name, fn};
}

void th_fail_at(const char *file, int line, const char *fmt, ...)
{
    if (failed)
        return;
    failed = true;
    int n = snprintf(fail_msg, sizeof(fail_msg), "%s:%d: ", file, line);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(fail_msg + n, sizeof(fail_msg) - (size_t)n, fmt, ap);
    va_end(ap);
}

bool th_failed(void) { return failed; }

uint64_t th_rand_u64(void)
{
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull); /* splitmix64 */
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

float th_uniform(float lo, float hi) { return lo + (hi - lo) * (float)((th_rand_u64() >> 40) * 0x1p-24); }

void th_fill_uniform(float *x, uint64_t n, float lo, float hi)
{
    for (uint64_t i = 0; i < n; i++)
        x[i] = th_uniform(lo, hi);
}

bool th_gbuf_create(th_env *env, uint64_t n, th_gbuf *g)
{
    g->n = n;
    g->guard = TH_GUARD;
    uint64_t total = n + 2 * g->guard;
    if (vknmt_buffer_create(env->ctx, total * 4, &g->buf) != VKNMT_OK)
        return false;
    uint32_t *all = malloc(total * 4);
    if (!all)
        return false;
    for (uint64_t i = 0; i < total; i++)
        all[i] = SENTINEL;
    bool ok = vknmt_buffer_upload(g->buf, 0, all, total * 4) == VKNMT_OK;
    free(all);
    return ok && th_gbuf_poison(g);
}

void th_gbuf_destroy(th_gbuf *g)
{
    vknmt_buffer_destroy(g->buf);
    g->buf = NULL;
}

vknmt_ref th_gbuf_ref(const th_gbuf *g) { return vknmt_at(g->buf, g->guard); }

bool th_gbuf_upload(th_gbuf *g, const float *data)
{
    return vknmt_buffer_upload(g->buf, g->guard * 4, data, g->n * 4) == VKNMT_OK;
}

bool th_gbuf_poison(th_gbuf *g)
{
    float *nan = malloc(g->n * 4);
    if (!nan)
        return false;
    for (uint64_t i = 0; i < g->n; i++)
        nan[i] = NAN;
    bool ok = th_gbuf_upload(g, nan);
    free(nan);
    return ok;
}

bool th_gbuf_download(const th_gbuf *g, float *data)
{
    return vknmt_buffer_download(g->buf, g->guard * 4, data, g->n * 4) == VKNMT_OK;
}

bool th_gbuf_guards_ok(const th_gbuf *g)
{
    uint32_t guard[TH_GUARD * 2];
    if (vknmt_buffer_download(g->buf, 0, guard, g->guard * 4) != VKNMT_OK ||
        vknmt_buffer_download(g->buf, (g->guard + g->n) * 4, guard + g->guard, g->guard * 4) != VKNMT_OK)
        return false;
    for (uint64_t i = 0; i < 2 * g->guard; i++)
        if (guard[i] != SENTINEL)
            return false;
    return true;
}

const char *th_shared_dir(void)
{
    const char *env = getenv("VKNMT_SHARED");
    return env && *env ? env : VKNMT_SHARED_DEFAULT;
}

double th_rel_err(const float *got, const double *want, uint64_t n, double floor)
{
    double scale = floor, err = 0;
    for (uint64_t i = 0; i < n; i++)
        if (fabs(want[i]) > scale)
            scale = fabs(want[i]);
    for (uint64_t i = 0; i < n; i++) {
        if (!isfinite(got[i]))
            return INFINITY;
        double e = fabs((double)got[i] - want[i]);
        if (e > err)
            err = e;
    }
    return err / scale;
}

/* Suites register themselves here. */
#define SUITE(name) void th_register_##name(void);
#include "suites.def"
#undef SUITE

static bool selected(const th_test *t, int argc, char **argv)
{
    if (argc == 0)
        return true;
    char full[256];
    snprintf(full, sizeof(full), "%s/%s", t->suite, t->name);
    for (int i = 0; i < argc; i++)
        if (strcmp(argv[i], t->suite) == 0 || strcmp(argv[i], full) == 0)
            return true;
    return false;
}

int main(int argc, char **argv)
{
#define SUITE(name) th_register_##name();
#include "suites.def"
#undef SUITE
    const char *seed_env = getenv("VKNMT_TEST_SEED");
    uint64_t seed = seed_env ? strtoull(seed_env, NULL, 0) : (uint64_t)time(NULL);
    printf("seed %llu (set VKNMT_TEST_SEED to repeat)\n", (unsigned long long)seed);

    th_env env = {0};
    vknmt_instance_options io = {.validation = true};
    vknmt_status s = vknmt_instance_create(&io, &env.inst);
    uint32_t dev = 0;
    if (s == VKNMT_OK)
        s = vknmt_instance_select(env.inst, NULL, &dev);
    if (s != VKNMT_OK) {
        printf("cannot start: %s\n0 passed, 1 failed\n", vknmt_instance_errmsg(env.inst));
        return 1;
    }
    vknmt_context_options co = {.cache_dir = ""};
    s = vknmt_context_create(env.inst, dev, &co, &env.ctx);
    if (s == VKNMT_OK)
        s = vknmt_seq_create(env.ctx, &env.seq);
    if (s != VKNMT_OK) {
        printf("cannot start: %s\n0 passed, 1 failed\n", vknmt_context_errmsg(env.ctx));
        return 1;
    }
    printf("device %s (%s), validation layer %s\n", vknmt_context_caps(env.ctx)->info.name,
           vknmt_context_caps(env.ctx)->info.driver_name,
           vknmt_instance_validation_enabled(env.inst) ? "on" : "not installed");

    int passed = 0, nfailed = 0;
    for (int i = 0; i < test_count; i++) {
        const th_test *t = &tests[i];
        if (!selected(t, argc - 1, argv + 1))
            continue;
        failed = false;
        fail_msg[0] = '\0';
        rng_state = seed ^ (uint64_t)(i + 1) * 0x2545f4914f6cdd1dull;
        uint32_t before = vknmt_instance_validation_count(env.inst);
        validation_expected = 0;
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        t->fn(&env);
        if (vknmt_seq_recording(env.seq)) /* a failed test left it open: close it for the next */
            vknmt_seq_submit(env.seq);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        double secs = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
        if (!failed && vknmt_instance_validation_count(env.inst) != before + validation_expected)
            th_fail_at(__FILE__, __LINE__, "validation layer: %s", vknmt_instance_validation_last(env.inst));
        if (failed) {
            nfailed++;
            printf("FAIL %s/%s: %s\n", t->suite, t->name, fail_msg);
        } else {
            passed++;
            printf("ok   %s/%s (%.2fs)\n", t->suite, t->name, secs);
        }
        fflush(stdout);
    }
    vknmt_seq_destroy(env.seq);
    vknmt_context_destroy(env.ctx);
    vknmt_instance_destroy(env.inst);
    printf("%d passed, %d failed\n", passed, nfailed);
    return nfailed || passed == 0 ? 1 : 0;
}

int th_run_vknmt(const char *dir, const char *args, char *err, size_t n)
{
    char cmd[4096], errfile[512];
    snprintf(errfile, sizeof(errfile), "%s/stderr.txt", dir);
    snprintf(cmd, sizeof(cmd), "%s %s 2> %s%s", VKNMT_BIN, args, errfile, strchr(args, '>') ? "" : " > /dev/null");
    int st = system(cmd);
    FILE *f = fopen(errfile, "r");
    size_t got = f ? fread(err, 1, n - 1, f) : 0;
    err[got] = '\0';
    if (f)
        fclose(f);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

bool th_same_safetensors(const char *a, const char *b, char *why, size_t n)
{
    vknmt_st *x = NULL, *y = NULL;
    char err[512] = "";
    bool same = vknmt_st_open(a, &x, err, sizeof(err)) == VKNMT_OK && vknmt_st_open(b, &y, err, sizeof(err)) == VKNMT_OK &&
                vknmt_st_count(x) == vknmt_st_count(y);
    if (!same)
        snprintf(why, n, "cannot open, or tensor counts differ: %.200s", err);
    for (size_t i = 0; same && i < vknmt_st_count(x); i++) {
        const vknmt_st_tensor *t = vknmt_st_at(x, i), *u = vknmt_st_find(y, t->name);
        same = u && u->nbytes == t->nbytes && memcmp(u->data, t->data, t->nbytes) == 0;
        if (!same)
            snprintf(why, n, "tensor %s differs", t->name);
    }
    vknmt_st_destroy(x);
    vknmt_st_destroy(y);
    return same;
}

char *th_read_file(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    long size = fseek(f, 0, SEEK_END) == 0 ? ftell(f) : -1;
    char *s = size >= 0 && fseek(f, 0, SEEK_SET) == 0 ? malloc((size_t)size + 1) : NULL;
    if (s && fread(s, 1, (size_t)size, f) != (size_t)size) {
        free(s);
        s = NULL;
    }
    fclose(f);
    if (s) {
        s[size] = '\0';
        if (n)
            *n = (size_t)size;
    }
    return s;
}

bool th_make_temp_dir(char *dir, size_t n, const char *tag)
{
    const char *base = getenv("TMPDIR");
    int len = snprintf(dir, n, "%s/vknmt-%s-XXXXXX", base && *base ? base : "/tmp", tag);
    return len > 0 && (size_t)len < n && mkdtemp(dir) != NULL;
}

bool th_write_reverse_corpus(const char *dir, int lines)
{
    char src[600], tgt[600];
    snprintf(src, sizeof(src), "%s/train.src", dir);
    snprintf(tgt, sizeof(tgt), "%s/train.tgt", dir);
    FILE *s = fopen(src, "w"), *t = fopen(tgt, "w");
    if (!s || !t) {
        if (s)
            fclose(s);
        if (t)
            fclose(t);
        return false;
    }
    for (int i = 0; i < lines; i++) {
        int len = 1 + (int)(th_rand_u64() % 9), w[9];
        for (int k = 0; k < len; k++) {
            w[k] = (int)(th_rand_u64() % 30);
            fprintf(s, "%sw%d", k ? " " : "", w[k]);
        }
        for (int k = len - 1; k >= 0; k--)
            fprintf(t, "%sv%d", k < len - 1 ? " " : "", w[k]);
        fputc('\n', s);
        fputc('\n', t);
    }
    return fclose(s) == 0 && fclose(t) == 0;
}

void th_remove_dir(const char *dir)
{
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
}

uint64_t th_kernel_calls(const th_env *env, const char *name)
{
    const vknmt_context *ctx = env->ctx;
    for (uint32_t i = 0; i < ctx->kernel_count; i++)
        if (strcmp(ctx->kernels[i].desc->name, name) == 0)
            return ctx->kernels[i].calls;
    return 0;
}
