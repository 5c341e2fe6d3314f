/* The runtime itself: device selection, bad calls, memory, barriers, the
 * pipeline cache, timing, and the validation layer hook. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "internal.h" /* raw Vulkan for the validation-layer test */

static void test_devices(th_env *env)
{
    uint32_t n = vknmt_instance_device_count(env->inst), idx = 99;
    CHECK(n >= 1, "no devices listed");
    const vknmt_device_info *d = vknmt_instance_device(env->inst, 0);
    CHECK(d && d->name[0] && d->heap_count >= 1 && d->subgroup_size >= 1, "device 0 info is empty");
    CHECK(vknmt_instance_device(env->inst, n) == NULL, "device past the end");
    CHECK_OK(env, vknmt_instance_select(env->inst, "0", &idx));
    CHECK(idx == 0, "index 0 selected %u", idx);
    char part[8];
    snprintf(part, sizeof(part), "%.4s", d->name);
    for (char *p = part; *p; p++)
        *p = (char)(*p ^ 0x20) >= 'A' && (*p ^ 0x20) <= 'z' ? (char)(*p ^ 0x20) : *p; /* flip the case */
    idx = 99;
    CHECK(vknmt_instance_select(env->inst, part, &idx) == VKNMT_OK && idx == 0, "name part '%s' not found", part);
    CHECK(vknmt_instance_select(env->inst, "4242", &idx) == VKNMT_ERR_NO_DEVICE, "bad index accepted");
    CHECK(vknmt_instance_select(env->inst, "no such gpu", &idx) == VKNMT_ERR_NO_DEVICE, "bad name accepted");
    CHECK(strstr(vknmt_instance_errmsg(env->inst), "no such gpu"), "message does not name the spec: %s",
          vknmt_instance_errmsg(env->inst));
}

/* cpu_inline sets LP_NUM_THREADS=0 for lavapipe, which reads it when it
 * enumerates its device, and leaves a user's own LP_NUM_THREADS alone. (One
 * instance per process: volk's entry points are global, so the helper is
 * tested here; train/translate_order runs the command both ways.) */
static void test_cpu_inline(th_env *env)
{
    (void)env;
    const char *was = getenv("LP_NUM_THREADS");
    char *saved = was ? strdup(was) : NULL;
    for (int user = 0; user < 2 && !th_failed(); user++) {
        if (user)
            setenv("LP_NUM_THREADS", "3", 1);
        else
            unsetenv("LP_NUM_THREADS");
        bool ok = vknmt_cpu_inline_env();
        const char *now = getenv("LP_NUM_THREADS");
        CHECK(ok && now && strcmp(now, user ? "3" : "0") == 0, "LP_NUM_THREADS is %s, want %s", now ? now : "unset",
              user ? "the user's 3" : "0");
    }
    if (saved)
        setenv("LP_NUM_THREADS", saved, 1);
    else
        unsetenv("LP_NUM_THREADS");
    free(saved);
}

static void test_bad_calls(th_env *env)
{
    vknmt_buffer *a, *b;
    CHECK_OK(env, vknmt_buffer_create(env->ctx, 100 * 4, &a));
    CHECK_OK(env, vknmt_buffer_create(env->ctx, 10 * 4, &b));
    CHECK_OK(env, vknmt_seq_begin(env->seq));
    vknmt_status s1 = vknmt_copy(env->seq, vknmt_at(a, 0), vknmt_at(b, 0), 11);   /* b too small */
    vknmt_status s2 = vknmt_fill(env->seq, vknmt_at(a, 95), 6, 0);                /* past the end */
    vknmt_status s3 = vknmt_fill(env->seq, vknmt_at(a, 0), 0, 0);                 /* empty */
    vknmt_status s4 = vknmt_softmax_rows(env->seq, vknmt_at(a, 0), vknmt_at(b, 0), 2, 6, (vknmt_ref){0});
    vknmt_status s5 = vknmt_fill(env->seq, vknmt_at(NULL, 0), 1, 0);
    vknmt_seq_stats st = vknmt_seq_stats_get(env->seq);
    CHECK_OK(env, vknmt_seq_submit(env->seq));
    vknmt_status s6 = vknmt_fill(env->seq, vknmt_at(a, 0), 1, 0); /* not recording */
    float big[200];
    vknmt_status s7 = vknmt_buffer_upload(b, 0, big, sizeof(big));
    vknmt_status s8 = vknmt_buffer_download(b, 36, big, 8);
    vknmt_buffer_destroy(a);
    vknmt_buffer_destroy(b);
    CHECK(s1 == VKNMT_ERR_RANGE, "too small: %s", vknmt_status_name(s1));
    CHECK(s2 == VKNMT_ERR_RANGE, "past the end: %s", vknmt_status_name(s2));
    CHECK(s3 == VKNMT_ERR_SHAPE, "empty: %s", vknmt_status_name(s3));
    CHECK(s4 == VKNMT_ERR_RANGE, "softmax output too small: %s", vknmt_status_name(s4));
    CHECK(s5 == VKNMT_ERR_USAGE, "no buffer: %s", vknmt_status_name(s5));
    CHECK(s6 == VKNMT_ERR_USAGE, "not recording: %s", vknmt_status_name(s6));
    CHECK(s7 == VKNMT_ERR_RANGE && s8 == VKNMT_ERR_RANGE, "transfers out of range: %s %s", vknmt_status_name(s7),
          vknmt_status_name(s8));
    CHECK(st.dispatches == 0 && st.fills == 0, "bad calls recorded %u dispatches, %u fills", st.dispatches, st.fills);
}

/* One binding over maxStorageBufferRange is refused, not truncated (ops
 * that can, like fill, split such buffers into windows instead). */
static void test_storage_range_limit(th_env *env)
{
    const vknmt_caps *caps = vknmt_context_caps(env->ctx);
    uint64_t limit = caps->max_storage_buffer_range / 4, align = caps->min_storage_offset_align / 4;
    align = align ? align : 1;
    vknmt_buffer *a, *y;
    vknmt_status s = vknmt_buffer_create(env->ctx, (limit + align) * 4, &a);
    if (s == VKNMT_ERR_OOM_DEVICE)
        return; /* a device with less memory than its range limit: nothing to test */
    CHECK_OK(env, s);
    CHECK_OK(env, vknmt_buffer_create(env->ctx, 8, &y));
    CHECK_OK(env, vknmt_seq_begin(env->seq));
    /* two elements `ld` apart: the binding spans ld + 1 floats */
    s = vknmt_copy2d(env->seq, vknmt_at(a, 0), (uint32_t)limit, vknmt_at(y, 0), 1, 2, 1);
    vknmt_status ok = vknmt_copy2d(env->seq, vknmt_at(a, align), (uint32_t)limit - 1, vknmt_at(y, 0), 1, 2, 1);
    vknmt_status windowed = vknmt_fill(env->seq, vknmt_at(a, 0), limit + align, 1.0f);
    CHECK_OK(env, vknmt_seq_submit(env->seq));
    vknmt_buffer_destroy(a);
    vknmt_buffer_destroy(y);
    CHECK(s == VKNMT_ERR_LIMIT, "over the range limit: %s", vknmt_status_name(s));
    CHECK(ok == VKNMT_OK, "at the range limit: %s", vknmt_status_name(ok));
    CHECK(windowed == VKNMT_OK, "windowed fill over the limit: %s", vknmt_status_name(windowed));
}

/* A kernel with more storage buffers than the device binds in a stage
 * (small GPUs allow as few as 4) fails as it is first dispatched, naming
 * it, and records nothing; at the limit it runs. The copy shader under
 * names of its own: the check is made once, as a kernel's pipeline layout
 * is made. */
static const vknmt_kernel_desc K_PROBE_OVER = {"copy_over_limit", VKNMT_SPIRV(copy), 2,
                                               {VKNMT_BIND_SSBO, VKNMT_BIND_SSBO}, 12, 1};
static const vknmt_kernel_desc K_PROBE_AT = {"copy_at_limit", VKNMT_SPIRV(copy), 2,
                                             {VKNMT_BIND_SSBO, VKNMT_BIND_SSBO}, 12, 1};

static vknmt_status copy_probe(th_env *env, const vknmt_kernel_desc *k, vknmt_buffer *x, vknmt_buffer *y)
{
    vknmt_binding b[2];
    struct { uint32_t off_x, off_y, n; } p = {0, 0, 4};
    uint32_t spec[1] = {64};
    vknmt_status s;
    if ((s = vknmt_bind(env->ctx, vknmt_at(x, 0), 4, VKNMT_READ, VKNMT_BIND_SSBO, &b[0], &p.off_x)) ||
        (s = vknmt_bind(env->ctx, vknmt_at(y, 0), 4, VKNMT_WRITE, VKNMT_BIND_SSBO, &b[1], &p.off_y)))
        return s;
    vknmt_dispatch d = {.kernel = k, .spec = spec, .push = &p, .bindings = b, .groups = {1, 1, 1}};
    return vknmt_seq_dispatch(env->seq, &d);
}

static void test_binding_limit(th_env *env)
{
    vknmt_buffer *x, *y;
    CHECK_OK(env, vknmt_buffer_create(env->ctx, 16, &x));
    CHECK_OK(env, vknmt_buffer_create(env->ctx, 16, &y));
    vknmt_caps saved = env->ctx->caps;
    CHECK_OK(env, vknmt_seq_begin(env->seq));
    env->ctx->caps.max_storage_buffers = 1; /* the copy kernel binds two */
    vknmt_status over = copy_probe(env, &K_PROBE_OVER, x, y);
    char msg[512];
    snprintf(msg, sizeof(msg), "%s", vknmt_context_errmsg(env->ctx));
    uint32_t recorded = vknmt_seq_stats_get(env->seq).dispatches;
    env->ctx->caps.max_storage_buffers = 2;
    vknmt_status at = copy_probe(env, &K_PROBE_AT, x, y);
    env->ctx->caps = saved;
    CHECK_OK(env, vknmt_seq_submit(env->seq));
    vknmt_buffer_destroy(x);
    vknmt_buffer_destroy(y);
    CHECK(over == VKNMT_ERR_UNSUPPORTED && strstr(msg, "copy_over_limit") && strstr(msg, "storage"),
          "two storage buffers on a device that binds one: %s (%s)", vknmt_status_name(over), msg);
    CHECK(recorded == 0, "%u dispatches recorded over the limit", recorded);
    CHECK(at == VKNMT_OK, "at the limit: %s", vknmt_status_name(at));
}

static void test_out_of_memory(th_env *env)
{
    const vknmt_caps *caps = vknmt_context_caps(env->ctx);
    vknmt_buffer *a = NULL;
    vknmt_status s = vknmt_buffer_create(env->ctx, caps->max_allocation_bytes + 16, &a);
    CHECK(s == VKNMT_ERR_OOM_DEVICE && a == NULL, "over maxMemoryAllocationSize: %s", vknmt_status_name(s));
    CHECK(strstr(vknmt_context_errmsg(env->ctx), "maxMemoryAllocationSize"), "message: %s",
          vknmt_context_errmsg(env->ctx));
    s = vknmt_buffer_create(env->ctx, 0, &a);
    CHECK(s == VKNMT_ERR_USAGE, "empty buffer: %s", vknmt_status_name(s));
}

/* Small buffers share one block; freed space is reused. */
static void test_suballocation(th_env *env)
{
    uint32_t blocks0 = vknmt_context_allocation_count(env->ctx);
    vknmt_buffer *b[50];
    for (int i = 0; i < 50; i++)
        CHECK_OK(env, vknmt_buffer_create(env->ctx, 1000 + 17 * (uint64_t)i, &b[i]));
    uint32_t blocks1 = vknmt_context_allocation_count(env->ctx);
    for (int i = 0; i < 50; i += 2)
        vknmt_buffer_destroy(b[i]);
    for (int i = 0; i < 50; i += 2)
        CHECK_OK(env, vknmt_buffer_create(env->ctx, 900, &b[i]));
    uint32_t blocks2 = vknmt_context_allocation_count(env->ctx);
    /* every buffer keeps its own contents */
    for (int i = 0; i < 50; i++) {
        float v = (float)i;
        CHECK_OK(env, vknmt_buffer_upload(b[i], 0, &v, 4));
    }
    for (int i = 0; i < 50; i++) {
        float v;
        CHECK_OK(env, vknmt_buffer_download(b[i], 0, &v, 4));
        CHECK(v == (float)i, "buffer %d holds %g", i, v);
    }
    for (int i = 0; i < 50; i++)
        vknmt_buffer_destroy(b[i]);
    CHECK(blocks1 <= blocks0 + 1 && blocks2 == blocks1, "blocks %u -> %u -> %u", blocks0, blocks1, blocks2);
}

/* Discrete GPUs copy through a staging buffer: force that path here by
 * hiding the buffer's mapping, in chunks and around a kernel's writes. */
static void test_staged_transfers(th_env *env)
{
    const uint64_t n = 5000;
    float *host = malloc(n * 4), *got = malloc(n * 4);
    CHECK(host && got, "out of memory");
    th_fill_uniform(host, n, -1, 1);
    vknmt_buffer *buf;
    CHECK_OK(env, vknmt_buffer_create(env->ctx, n * 4, &buf));
    uint8_t *mapped = buf->mapped;
    buf->mapped = NULL;
    vknmt_status s = vknmt_buffer_upload(buf, 0, host, n * 4);
    if (s == VKNMT_OK)
        s = vknmt_buffer_download(buf, 4, got, (n - 1) * 4);
    bool same = s == VKNMT_OK && memcmp(got, host + 1, (n - 1) * 4) == 0;
    if (s == VKNMT_OK)
        s = vknmt_seq_begin(env->seq);
    if (s == VKNMT_OK)
        s = vknmt_scale(env->seq, vknmt_at(buf, 10), 100, 2.0f);
    if (s == VKNMT_OK)
        s = vknmt_seq_submit(env->seq);
    if (s == VKNMT_OK)
        s = vknmt_buffer_download(buf, 0, got, n * 4);
    buf->mapped = mapped;
    vknmt_buffer_destroy(buf);
    CHECK(s == VKNMT_OK, "%s", vknmt_context_errmsg(env->ctx));
    CHECK(same, "staged upload/download changed the data");
    for (uint64_t i = 0; i < n; i++) {
        float want = i >= 10 && i < 110 ? 2.0f * host[i] : host[i];
        CHECK(got[i] == want, "element %llu: %g, want %g", (unsigned long long)i, got[i], want);
    }
    free(host);
    free(got);
}

/* Barriers go where hazards are, and only there. */
static void test_barriers(th_env *env)
{
    vknmt_buffer *buf;
    CHECK_OK(env, vknmt_buffer_create(env->ctx, 400 * 4, &buf));
    vknmt_ref a = vknmt_at(buf, 0), b = vknmt_at(buf, 100), c = vknmt_at(buf, 200), d = vknmt_at(buf, 300);
    CHECK_OK(env, vknmt_seq_begin(env->seq));
    CHECK_OK(env, vknmt_fill(env->seq, a, 100, 1.0f));
    CHECK_OK(env, vknmt_fill(env->seq, b, 100, 2.0f)); /* disjoint: no barrier */
    uint32_t b0 = vknmt_seq_stats_get(env->seq).barriers;
    CHECK_OK(env, vknmt_copy(env->seq, a, c, 100));    /* reads a after its write */
    uint32_t b1 = vknmt_seq_stats_get(env->seq).barriers;
    CHECK_OK(env, vknmt_copy(env->seq, b, d, 100));    /* b's write is behind the barrier */
    uint32_t b2 = vknmt_seq_stats_get(env->seq).barriers;
    CHECK_OK(env, vknmt_fill(env->seq, a, 100, 3.0f)); /* write after the copy's read */
    uint32_t b3 = vknmt_seq_stats_get(env->seq).barriers;
    CHECK_OK(env, vknmt_axpy(env->seq, 1.0f, a, c, 100)); /* read after write */
    uint32_t b4 = vknmt_seq_stats_get(env->seq).barriers;
    CHECK_OK(env, vknmt_seq_submit(env->seq));
    float host[400];
    CHECK_OK(env, vknmt_buffer_download(buf, 0, host, sizeof(host)));
    vknmt_buffer_destroy(buf);
    CHECK(b0 == 0 && b1 == 1 && b2 == 1 && b3 == 2 && b4 == 3, "barriers %u %u %u %u %u", b0, b1, b2, b3, b4);
    for (int i = 0; i < 100; i++)
        CHECK(host[i] == 3 && host[100 + i] == 2 && host[200 + i] == 4 && host[300 + i] == 2,
              "element %d: %g %g %g %g", i, host[i], host[100 + i], host[200 + i], host[300 + i]);
}

/* A fill and a dispatch (a pipeline, made or taken from the cache). */
static bool run_fill_scale(vknmt_context *ctx)
{
    vknmt_seq *seq = NULL;
    vknmt_buffer *buf = NULL;
    float v = 0;
    bool ok = vknmt_seq_create(ctx, &seq) == VKNMT_OK && vknmt_buffer_create(ctx, 64, &buf) == VKNMT_OK &&
              vknmt_seq_begin(seq) == VKNMT_OK && vknmt_fill(seq, vknmt_at(buf, 0), 16, 5.0f) == VKNMT_OK &&
              vknmt_scale(seq, vknmt_at(buf, 0), 16, 2.0f) == VKNMT_OK && vknmt_seq_submit(seq) == VKNMT_OK &&
              vknmt_buffer_download(buf, 60, &v, 4) == VKNMT_OK && v == 10.0f;
    vknmt_buffer_destroy(buf);
    vknmt_seq_destroy(seq);
    return ok;
}

static long file_size(const char *dir)
{
    char cmd[512];
    snprintf(cmd, sizeof(cmd), "cat %s/pipelines-*.bin 2>/dev/null | wc -c", dir);
    FILE *p = popen(cmd, "r");
    long n = -1;
    if (p) {
        if (fscanf(p, "%ld", &n) != 1)
            n = -1;
        pclose(p);
    }
    return n;
}

/* The cache is written on destroy (lavapipe's holds only the 32-byte header);
 * stale or corrupt files are ignored. */
static void test_pipeline_cache(th_env *env)
{
    char dir[128];
    CHECK(th_make_temp_dir(dir, sizeof(dir), "cache"), "mkdtemp");
    uint32_t dev = 0;
    CHECK_OK(env, vknmt_instance_select(env->inst, NULL, &dev));
    vknmt_context_options co = {.cache_dir = dir};
    for (int round = 0; round < 3; round++) {
        vknmt_context *ctx = NULL;
        vknmt_status s = vknmt_context_create(env->inst, dev, &co, &ctx);
        CHECK(s == VKNMT_OK, "round %d: %s", round, vknmt_context_errmsg(ctx));
        bool ok = run_fill_scale(ctx);
        vknmt_context_destroy(ctx);
        CHECK(ok, "round %d: fill and scale failed", round);
        long n = file_size(dir);
        CHECK(n >= 32, "round %d: cache file of %ld bytes", round, n);
        char cmd[512];
        if (round == 0) /* corrupt the body and the header */
            snprintf(cmd, sizeof(cmd), "for f in %s/pipelines-*.bin; do head -c 4000 /dev/urandom > $f; done", dir);
        else            /* truncate it */
            snprintf(cmd, sizeof(cmd), "for f in %s/pipelines-*.bin; do head -c 20 $f > $f.t && mv $f.t $f; done", dir);
        CHECK(system(cmd) == 0, "%s", cmd);
    }
    char cmd[512];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    CHECK(system(cmd) == 0, "cleanup");
}

static void test_timing(th_env *env)
{
    if (!vknmt_context_caps(env->ctx)->timestamps)
        return;
    uint32_t dev = 0;
    CHECK_OK(env, vknmt_instance_select(env->inst, NULL, &dev));
    vknmt_context_options co = {.cache_dir = "", .profile = true};
    vknmt_context *ctx = NULL;
    vknmt_seq *seq = NULL;
    vknmt_buffer *buf = NULL;
    vknmt_status s = vknmt_context_create(env->inst, dev, &co, &ctx);
    if (s == VKNMT_OK)
        s = vknmt_seq_create(ctx, &seq);
    if (s == VKNMT_OK)
        s = vknmt_buffer_create(ctx, 1 << 20, &buf);
    if (s == VKNMT_OK)
        s = vknmt_seq_begin(seq);
    if (s == VKNMT_OK)
        s = vknmt_seq_region_begin(seq, "scales");
    for (int i = 0; i < 3 && s == VKNMT_OK; i++)
        s = vknmt_scale(seq, vknmt_at(buf, 0), 1 << 18, (float)i);
    if (s == VKNMT_OK)
        s = vknmt_seq_region_end(seq);
    if (s == VKNMT_OK)
        s = vknmt_seq_submit(seq);
    double ms = vknmt_seq_region_ms(seq, "scales"), none = vknmt_seq_region_ms(seq, "other");
    char report[4096] = "";
    FILE *f = fmemopen(report, sizeof(report) - 1, "w");
    if (f) {
        vknmt_context_profile_report(ctx, f);
        fclose(f);
    }
    CHECK(s == VKNMT_OK, "%s", vknmt_context_errmsg(ctx));
    vknmt_buffer_destroy(buf);
    vknmt_seq_destroy(seq);
    vknmt_context_destroy(ctx);
    CHECK(ms > 0 && ms < 10000 && none < 0, "region ms %g, unknown region %g", ms, none);
    CHECK(strstr(report, "scale") && strstr(report, "total"), "profile report:\n%s", report);
}

/* The harness fails a test on any validation message: prove the hook sees one. */
static void test_validation_hook(th_env *env)
{
    if (!vknmt_instance_validation_enabled(env->inst))
        return;
    uint32_t before = vknmt_instance_validation_count(env->inst);
    VkBufferCreateInfo bad = {.sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO, .size = 0, /* invalid: size 0 */
                              .usage = VK_BUFFER_USAGE_STORAGE_BUFFER_BIT};
    VkBuffer b = VK_NULL_HANDLE;
    /* The layer reports the error; the driver may or may not make a buffer. */
    if (vkCreateBuffer(env->ctx->device, &bad, NULL, &b) == VK_SUCCESS && b)
        vkDestroyBuffer(env->ctx->device, b, NULL);
    uint32_t after = vknmt_instance_validation_count(env->inst);
    CHECK(after > before, "the validation layer reported nothing for a 0-byte buffer");
    th_expect_validation(after - before);
}

void th_register_runtime(void)
{
    th_add("runtime", "devices", test_devices);
    th_add("runtime", "cpu_inline", test_cpu_inline);
    th_add("runtime", "bad_calls", test_bad_calls);
    th_add("runtime", "storage_range_limit", test_storage_range_limit);
    th_add("runtime", "binding_limit", test_binding_limit);
    th_add("runtime", "out_of_memory", test_out_of_memory);
    th_add("runtime", "suballocation", test_suballocation);
    th_add("runtime", "staged_transfers", test_staged_transfers);
    th_add("runtime", "barriers", test_barriers);
    th_add("runtime", "pipeline_cache", test_pipeline_cache);
    th_add("runtime", "timing", test_timing);
    th_add("runtime", "validation_hook", test_validation_hook);
}
