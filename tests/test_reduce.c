/* Sum and L2 norm: accuracy against double, and bitwise determinism, in
 * each kernel form (the CPU devices' one-subgroup form where the input
 * starts on a quad, the portable one elsewhere; checked by the profiler's
 * per-kernel counts). */
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "internal.h" /* to lower the storage range limit, force a form, count the kernels run */

typedef struct reduce_form {
    const char *name;
    bool cpu_lanes;
    uint32_t residue; /* the input's float offset mod 4 */
} reduce_form;
static const reduce_form FORMS[] = {{"cpu-lanes", true, 0}, {"cpu-off-quad", true, 3}, {"gpu", false, 0}};


static void check_reduce_form(th_env *env, uint64_t n, bool norm, const reduce_form *f)
{
    float *x = malloc(n * 4);
    CHECK(x, "out of memory");
    th_fill_uniform(x, n, -1, 1);
    double want = 0, abs_sum = 0;
    for (uint64_t i = 0; i < n; i++) {
        want += norm ? (double)x[i] * x[i] : x[i];
        abs_sum += norm ? (double)x[i] * x[i] : fabs(x[i]);
    }
    if (norm)
        want = sqrt(want);
    uint64_t ns = vknmt_reduce_scratch_elems(n), shift = (f->residue + 4 - TH_GUARD % 4) % 4;
    th_gbuf gx, go, gs;
    CHECK(th_gbuf_create(env, n + shift, &gx) && th_gbuf_create(env, 1, &go) && th_gbuf_create(env, ns, &gs),
          "buffers");
    vknmt_ref rx = vknmt_at(gx.buf, gx.guard + shift);
    CHECK_OK(env, vknmt_buffer_upload(rx.buf, rx.off * 4, x, n * 4));
    vknmt_caps saved = env->ctx->caps;
    bool profile = env->ctx->profile;
    env->ctx->caps.quirk_cpu_lanes = f->cpu_lanes;
    env->ctx->profile = true;
    const char *lanes = norm ? "reduce_sumsq_lanes" : "reduce_lanes", *plain = norm ? "reduce_sumsq" : "reduce_sum";
    uint64_t lanes0 = th_kernel_calls(env, lanes), plain0 = th_kernel_calls(env, plain);
    float got[2];
    for (int run = 0; run < 2; run++) {
        CHECK(th_gbuf_poison(&go), "poison");
        CHECK_OK(env, vknmt_seq_begin(env->seq));
        if (norm)
            CHECK_OK(env, vknmt_norm2(env->seq, rx, n, th_gbuf_ref(&go), th_gbuf_ref(&gs)));
        else
            CHECK_OK(env, vknmt_sum(env->seq, rx, n, th_gbuf_ref(&go), th_gbuf_ref(&gs)));
        CHECK_OK(env, vknmt_seq_submit(env->seq));
        CHECK(th_gbuf_download(&go, &got[run]), "download");
    }
    uint64_t lanes_ran = th_kernel_calls(env, lanes) - lanes0, plain_ran = th_kernel_calls(env, plain) - plain0;
    env->ctx->caps = saved;
    env->ctx->profile = profile;
    /* the first pass over x in the form the device class and alignment call for */
    bool want_lanes = f->cpu_lanes && saved.subgroup_shuffle && f->residue == 0;
    if (saved.timestamps)
        CHECK(want_lanes ? lanes_ran > 0 : lanes_ran == 0 && plain_ran > 0,
              "%s n=%llu: %llu one-subgroup and %llu portable passes", f->name, (unsigned long long)n,
              (unsigned long long)lanes_ran, (unsigned long long)plain_ran);
    /* fp32 summation error bound, relative to the sum of magnitudes */
    double err = fabs(got[0] - want) / (norm ? want : abs_sum);
    CHECK(isfinite(got[0]) && err < 1e-5, "%s n=%llu: got %.9g want %.9g (err %g)", f->name, (unsigned long long)n,
          got[0], want, err);
    CHECK(memcmp(&got[0], &got[1], 4) == 0, "%s n=%llu: two runs differ in their bits", f->name,
          (unsigned long long)n);
    CHECK(th_gbuf_guards_ok(&gx) && th_gbuf_guards_ok(&go) && th_gbuf_guards_ok(&gs), "write outside the output");
    th_gbuf_destroy(&gx);
    th_gbuf_destroy(&go);
    th_gbuf_destroy(&gs);
    free(x);
}

static void check_reduce(th_env *env, uint64_t n, bool norm)
{
    for (size_t f = 0; f < sizeof(FORMS) / sizeof(FORMS[0]) && !th_failed(); f++)
        check_reduce_form(env, n, norm, &FORMS[f]);
}

static const uint64_t sizes[] = {1, 2, 255, 257, 8192, 8193, 100003, 3000017};

static void test_sum(th_env *env)
{
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]) && !th_failed(); i++)
        check_reduce(env, sizes[i], false);
}

static void test_norm(th_env *env)
{
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]) && !th_failed(); i++)
        check_reduce(env, sizes[i], true);
}

/* Over the device's storage range: windows, same answer. */
static void test_windows(th_env *env)
{
    vknmt_caps saved = env->ctx->caps;
    env->ctx->caps.max_storage_buffer_range = 3 * 8192 * 4 + 100; /* windows of 3 chunks */
    check_reduce(env, 100003, true);
    if (!th_failed())
        check_reduce(env, 8192 * 6, false);
    env->ctx->caps = saved;
}

static void test_needs_scratch(th_env *env)
{
    vknmt_buffer *x, *o;
    CHECK_OK(env, vknmt_buffer_create(env->ctx, 20000 * 4, &x));
    CHECK_OK(env, vknmt_buffer_create(env->ctx, 4, &o));
    CHECK_OK(env, vknmt_seq_begin(env->seq));
    vknmt_status s = vknmt_sum(env->seq, vknmt_at(x, 0), 20000, vknmt_at(o, 0), (vknmt_ref){0});
    CHECK_OK(env, vknmt_seq_submit(env->seq));
    vknmt_buffer_destroy(x);
    vknmt_buffer_destroy(o);
    CHECK(s == VKNMT_ERR_USAGE, "sum without scratch returned %s", vknmt_status_name(s));
}

void th_register_reduce(void)
{
    th_add("reduce", "sum", test_sum);
    th_add("reduce", "norm2", test_norm);
    th_add("reduce", "windows", test_windows);
    th_add("reduce", "missing_scratch", test_needs_scratch);
}
