/* A small test harness: one device for the whole run (validation layer on
 * where installed: any message fails the test that caused it), seeded
 * random inputs, guarded and poisoned device buffers, relative-error checks. */
#ifndef VKNMT_TEST_HARNESS_H
#define VKNMT_TEST_HARNESS_H

#include <math.h>
#include <stdbool.h>
#include <stdint.h>

#include "vknmt_runtime.h"

typedef struct th_env {
    vknmt_instance *inst;
    vknmt_context *ctx;
    vknmt_seq *seq;
} th_env;

typedef void (*th_fn)(th_env *env);

void th_add(const char *suite, const char *name, th_fn fn);

/* Records a failure of the running test (first message kept). */
void th_fail_at(const char *file, int line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
bool th_failed(void);
/* The running test provoked `n` validation messages on purpose. */
void th_expect_validation(uint32_t n);

#define CHECK(cond, ...)                                  \
    do {                                                  \
        if (!(cond)) {                                    \
            th_fail_at(__FILE__, __LINE__, __VA_ARGS__);  \
            return;                                       \
        }                                                 \
    } while (0)
/* A runtime call that must succeed; names the context's message if not. */
#define CHECK_OK(env, call)                                                                  \
    do {                                                                                     \
        vknmt_status s_ = (call);                                                            \
        CHECK(s_ == VKNMT_OK, "%s -> %s: %s", #call, vknmt_status_name(s_),                  \
              vknmt_context_errmsg((env)->ctx));                                             \
    } while (0)

/* Deterministic per-test random numbers (seed printed by the runner). */
uint64_t th_rand_u64(void);
float th_uniform(float lo, float hi);
void th_fill_uniform(float *x, uint64_t n, float lo, float hi);

/* A device buffer with `guard` floats of a sentinel on both sides of `n`
 * data floats; the data is poisoned with NaN at creation. */
typedef struct th_gbuf {
    vknmt_buffer *buf;
    uint64_t n, guard;
} th_gbuf;

#define TH_GUARD 67
bool th_gbuf_create(th_env *env, uint64_t n, th_gbuf *g);
void th_gbuf_destroy(th_gbuf *g);
vknmt_ref th_gbuf_ref(const th_gbuf *g);
bool th_gbuf_upload(th_gbuf *g, const float *data);
bool th_gbuf_poison(th_gbuf *g);
bool th_gbuf_download(const th_gbuf *g, float *data);
/* True when both guard regions still hold the sentinel. */
bool th_gbuf_guards_ok(const th_gbuf *g);

/* How many dispatches of the kernel `name` the context has timed so far:
 * those recorded while ctx->profile was on, on a device with timestamps. */
uint64_t th_kernel_calls(const th_env *env, const char *name);

/* Whether two safetensors files hold the same tensors bit for bit (the
 * metadata aside); why says which tensor differs. */
bool th_same_safetensors(const char *a, const char *b, char *why, size_t n);

/* A new folder $TMPDIR/vknmt-TAG-XXXXXX ($TMPDIR defaulting to /tmp) for a
 * test's files, its path in dir (n bytes); false when it cannot be made. */
bool th_make_temp_dir(char *dir, size_t n, const char *tag);

/* A whole file, malloc'd with a '\0' after its bytes (a text file is a
 * string); its size in *n unless n is NULL. NULL when it cannot be read. */
char *th_read_file(const char *path, size_t *n);

/* dir/train.src and dir/train.tgt: `lines` random sentences of 1-9 "words"
 * w0..w29 and their "translations" (the words reversed, renamed v0..v29). */
bool th_write_reverse_corpus(const char *dir, int lines);

/* rm -rf dir (a test's temporary folder); a failure is printed, not fatal. */
void th_remove_dir(const char *dir);

/* Runs the vknmt binary under test with `args` (a shell fragment: stdout
 * goes to /dev/null unless args redirect it with '>'); its stderr is kept in
 * dir/stderr.txt and copied into err. Returns the exit status (128 when it
 * did not exit normally). */
int th_run_vknmt(const char *dir, const char *args, char *err, size_t n);

/* The shared/ folder beside the checkout ($VKNMT_SHARED, which ctest sets). */
const char *th_shared_dir(void);

/* max |got - want| / max(max |want|, floor); NaN/Inf in got -> INFINITY. */
double th_rel_err(const float *got, const double *want, uint64_t n, double floor);

#endif
