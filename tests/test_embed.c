/* Embedding gather, its CSR scatter-add gradient, and the host CSR builder,
 * against plain C in double. */
#include <stdlib.h>
#include <string.h>

#include "embed.h"
#include "harness.h"

static uint32_t row_of(int32_t id, uint32_t vocab) { return id >= 0 && (uint32_t)id < vocab ? (uint32_t)id : 1; }

/* ids in [-3, vocab + 3): some out of range on both sides. */
static void random_ids(int32_t *ids, uint32_t n, uint32_t vocab)
{
    for (uint32_t i = 0; i < n; i++)
        ids[i] = (int32_t)(th_rand_u64() % (vocab + 6)) - 3;
}

/* Float offset in a guarded buffer that puts an array on a quad. */
#define QUAD_OFF ((4 - TH_GUARD % 4) % 4)

/* One lookup's host data, reference and guarded device buffers. With
 * `quads`, table and out start on a quad (the vec4 kernel when dim is a
 * multiple of 4). */
typedef struct gather_case {
    uint32_t vocab, dim, n;
    uint64_t sh;
    float *tables, *gots;
    double *want;
    int32_t *ids;
    th_gbuf gt, gi, go;
} gather_case;

static void gather_free(gather_case *c)
{
    th_gbuf_destroy(&c->gt);
    th_gbuf_destroy(&c->gi);
    th_gbuf_destroy(&c->go);
    free(c->tables);
    free(c->gots);
    free(c->want);
    free(c->ids);
}

static bool gather_make(th_env *env, gather_case *c, uint32_t vocab, uint32_t dim, uint32_t n, bool quads)
{
    *c = (gather_case){.vocab = vocab, .dim = dim, .n = n, .sh = quads ? QUAD_OFF : 0};
    c->tables = calloc((size_t)vocab * dim + c->sh, 4);
    c->gots = malloc(((size_t)n * dim + c->sh) * 4);
    c->want = malloc((size_t)n * dim * 8);
    c->ids = malloc((size_t)n * 4);
    if (!c->tables || !c->gots || !c->want || !c->ids)
        return false;
    float *table = c->tables + c->sh;
    th_fill_uniform(table, (uint64_t)vocab * dim, -1, 1);
    random_ids(c->ids, n, vocab);
    if (n > 2) {
        c->ids[0] = -1;             /* below the range */
        c->ids[1] = (int32_t)vocab; /* just above it */
    }
    for (uint32_t i = 0; i < n; i++)
        for (uint32_t d = 0; d < dim; d++)
            c->want[(size_t)i * dim + d] = table[(size_t)row_of(c->ids[i], vocab) * dim + d];
    return th_gbuf_create(env, (uint64_t)vocab * dim + c->sh, &c->gt) && th_gbuf_create(env, n, &c->gi) &&
           th_gbuf_create(env, (uint64_t)n * dim + c->sh, &c->go) && th_gbuf_upload(&c->gt, c->tables) &&
           th_gbuf_upload(&c->gi, (const float *)c->ids);
}

static vknmt_lookup gather_lookup(const gather_case *c)
{
    return (vknmt_lookup){vknmt_at(c->gt.buf, th_gbuf_ref(&c->gt).off + c->sh), c->vocab, c->dim, th_gbuf_ref(&c->gi),
                          c->n, vknmt_at(c->go.buf, th_gbuf_ref(&c->go).off + c->sh)};
}

static void gather_verify(gather_case *c, const char *what)
{
    CHECK(th_gbuf_download(&c->go, c->gots), "download");
    double err = th_rel_err(c->gots + c->sh, c->want, (uint64_t)c->n * c->dim, 1e-30);
    CHECK(err == 0, "%s vocab %u dim %u n %u%s: relative error %g (a copy must be exact)", what, c->vocab, c->dim,
          c->n, c->sh ? " (quads)" : "", err);
    for (uint64_t i = 0; i < c->sh; i++)
        CHECK(isnan(c->gots[i]), "%s: wrote before the output", what);
    CHECK(th_gbuf_guards_ok(&c->gt) && th_gbuf_guards_ok(&c->gi) && th_gbuf_guards_ok(&c->go),
          "%s: write outside the output", what);
}

static void check_gather(th_env *env, uint32_t vocab, uint32_t dim, uint32_t n, bool quads)
{
    gather_case c;
    CHECK(gather_make(env, &c, vocab, dim, n, quads), "out of memory");
    vknmt_lookup l = gather_lookup(&c);
    CHECK_OK(env, vknmt_seq_begin(env->seq));
    CHECK_OK(env, vknmt_embed_gather(env->seq, l.table, vocab, dim, l.ids, n, l.out));
    CHECK_OK(env, vknmt_seq_submit(env->seq));
    gather_verify(&c, "gather");
    gather_free(&c);
}

/* Two lookups in one call (a decoding step's reorder and embeddings): each
 * exact, in one dispatch when both run on quads, else two. */
static void check_gather2(th_env *env, const uint32_t a[3], const uint32_t b[3], bool quads)
{
    gather_case c[2];
    CHECK(gather_make(env, &c[0], a[0], a[1], a[2], quads) && gather_make(env, &c[1], b[0], b[1], b[2], quads),
          "out of memory");
    vknmt_lookup l[2] = {gather_lookup(&c[0]), gather_lookup(&c[1])};
    CHECK_OK(env, vknmt_seq_begin(env->seq));
    CHECK_OK(env, vknmt_embed_gather2(env->seq, &l[0], &l[1]));
    uint32_t d = vknmt_seq_stats_get(env->seq).dispatches;
    CHECK_OK(env, vknmt_seq_submit(env->seq));
    bool one = quads && a[1] % 4 == 0 && b[1] % 4 == 0;
    CHECK(d == (one ? 1u : 2u), "gather2 dims %u, %u%s: %u dispatches", a[1], b[1], quads ? " (quads)" : "", d);
    gather_verify(&c[0], "gather2 first");
    gather_verify(&c[1], "gather2 second");
    gather_free(&c[0]);
    gather_free(&c[1]);
}

static void test_gather(th_env *env)
{
    static const uint32_t shapes[][3] = {{2, 1, 1},    {11, 7, 13},  {50, 70, 1},  {300, 33, 97},
                                         {8003, 5, 200}, {2, 4, 1},    {11, 8, 13},  {300, 36, 97}};
    for (size_t i = 0; i < sizeof(shapes) / sizeof(shapes[0]) && !th_failed(); i++)
        for (int quads = 0; quads < 2 && !th_failed(); quads++)
            check_gather(env, shapes[i][0], shapes[i][1], shapes[i][2], quads);
    for (size_t i = 0; i < 8 && !th_failed(); i++) /* every pair, both orders once */
        for (size_t j = i + 1; j < 8 && !th_failed(); j++)
            for (int quads = 0; quads < 2 && !th_failed(); quads++)
                check_gather2(env, (i + j) % 2 ? shapes[i] : shapes[j], (i + j) % 2 ? shapes[j] : shapes[i], quads);
}

/* Checks the CSR's invariants for ids[n] with `skip`. */
static bool csr_ok(const int32_t *ids, uint32_t n, int32_t skip, const int32_t *order, const int32_t *uniq,
                   const int32_t *starts, uint32_t n_uniq)
{
    uint32_t kept = 0;
    for (uint32_t i = 0; i < n; i++)
        kept += ids[i] != skip;
    if (starts[0] != 0 || (uint32_t)starts[n_uniq] != kept)
        return false;
    for (uint32_t u = 0; u < n_uniq; u++) {
        if (starts[u + 1] <= starts[u] || (u > 0 && uniq[u] <= uniq[u - 1]) || uniq[u] == skip)
            return false;
        for (int32_t q = starts[u]; q < starts[u + 1]; q++)
            if (order[q] < 0 || (uint32_t)order[q] >= n || ids[order[q]] != uniq[u] ||
                (q > starts[u] && order[q] <= order[q - 1]))
                return false;
    }
    /* every kept position exactly once */
    char *seen = calloc(n ? n : 1, 1);
    bool ok = seen != NULL;
    for (uint32_t q = 0; ok && q < kept; q++)
        ok = !seen[order[q]]++;
    free(seen);
    return ok;
}

static void test_csr(th_env *env)
{
    (void)env;
    int32_t order[64], uniq[64], starts[65];
    uint32_t nu = 99;
    int32_t one[1] = {0};
    vknmt_embed_csr(one, 1, 0, order, uniq, starts, &nu);
    CHECK(nu == 0 && starts[0] == 0, "a lone skipped id: n_uniq %u", nu);
    vknmt_embed_csr(one, 0, -1, order, uniq, starts, &nu);
    CHECK(nu == 0 && starts[0] == 0, "no ids: n_uniq %u", nu);
    int32_t same[5] = {4, 4, 4, 4, 4};
    vknmt_embed_csr(same, 5, -1, order, uniq, starts, &nu);
    CHECK(nu == 1 && uniq[0] == 4 && starts[1] == 5 && csr_ok(same, 5, -1, order, uniq, starts, nu), "all equal");
    int32_t fixed[10] = {3, 0, 7, 3, 0, 1, 7, 7, 2, 3};
    vknmt_embed_csr(fixed, 10, 0, order, uniq, starts, &nu);
    static const int32_t w_order[8] = {5, 8, 0, 3, 9, 2, 6, 7}, w_uniq[4] = {1, 2, 3, 7}, w_starts[5] = {0, 1, 2, 5, 8};
    CHECK(nu == 4 && !memcmp(order, w_order, sizeof w_order) && !memcmp(uniq, w_uniq, sizeof w_uniq) &&
              !memcmp(starts, w_starts, sizeof w_starts),
          "fixed example: n_uniq %u", nu);
    for (int trial = 0; trial < 200; trial++) {
        uint32_t n = 1 + (uint32_t)(th_rand_u64() % 64);
        int32_t ids[64];
        for (uint32_t i = 0; i < n; i++)
            ids[i] = (int32_t)(th_rand_u64() % 12);
        int32_t skip = trial % 2 ? 0 : -1;
        vknmt_embed_csr(ids, n, skip, order, uniq, starts, &nu);
        CHECK(csr_ok(ids, n, skip, order, uniq, starts, nu), "trial %d (n %u): CSR invariants broken", trial, n);
    }
}

/* Scatter reference: dtable += dout rows grouped by id, in CSR order. */
static void scatter_ref(const float *dout, uint32_t dim, const int32_t *order, const int32_t *uniq,
                        const int32_t *starts, uint32_t n_uniq, double *dtable)
{
    for (uint32_t u = 0; u < n_uniq; u++)
        for (int32_t q = starts[u]; q < starts[u + 1]; q++)
            for (uint32_t d = 0; d < dim; d++)
                dtable[(size_t)uniq[u] * dim + d] += dout[(size_t)order[q] * dim + d];
}

/* The scatter is gather's backward: check the C reference against central
 * differences of L(table) = sum_i,d w[i,d] * gather(table)[i,d] in double. */
static void test_scatter_fd(th_env *env)
{
    (void)env;
    enum { V = 6, D = 3, N = 9 };
    int32_t ids[N] = {2, 5, 2, 0, 3, 2, 5, 1, 0}, order[N], uniq[N], starts[N + 1];
    float w[N * D];
    double table[V * D], grad[V * D] = {0};
    th_fill_uniform(w, N * D, -1, 1);
    for (int i = 0; i < V * D; i++)
        table[i] = th_uniform(-1, 1);
    uint32_t nu;
    vknmt_embed_csr(ids, N, -1, order, uniq, starts, &nu);
    scatter_ref(w, D, order, uniq, starts, nu, grad);
    double h = 1e-4, worst = 0;
    for (int e = 0; e < V * D; e++) {
        double l[2];
        for (int sgn = 0; sgn < 2; sgn++) {
            double keep = table[e];
            table[e] += sgn ? -h : h;
            l[sgn] = 0;
            for (int i = 0; i < N; i++)
                for (int d = 0; d < D; d++)
                    l[sgn] += w[i * D + d] * table[row_of(ids[i], V) * D + d];
            table[e] = keep;
        }
        double fd = (l[0] - l[1]) / (2 * h);
        worst = fmax(worst, fabs(fd - grad[e]));
    }
    CHECK(worst < 1e-9, "scatter reference vs finite differences: max abs error %g > 1e-9", worst);
}

static void check_scatter(th_env *env, uint32_t vocab, uint32_t dim, uint32_t n, int32_t skip)
{
    float *dout = malloc((size_t)n * dim * 4), *init = malloc((size_t)vocab * dim * 4);
    float *got = malloc((size_t)vocab * dim * 4), *got2 = malloc((size_t)vocab * dim * 4);
    double *want = malloc((size_t)vocab * dim * 8);
    int32_t *ids = malloc(n * 4), *order = malloc(n * 4), *uniq = malloc(n * 4), *starts = malloc((n + 1) * 4);
    CHECK(dout && init && got && got2 && want && ids && order && uniq && starts, "out of memory");
    th_fill_uniform(dout, (uint64_t)n * dim, -1, 1);
    th_fill_uniform(init, (uint64_t)vocab * dim, -1, 1); /* "+=": non-zero initial contents */
    /* few distinct ids: many repeats */
    uint32_t distinct = vocab < 5 ? vocab : 5;
    for (uint32_t i = 0; i < n; i++)
        ids[i] = (int32_t)(th_rand_u64() % distinct);
    uint32_t nu;
    vknmt_embed_csr(ids, n, skip, order, uniq, starts, &nu);
    if (nu == 0) { /* all skipped: nothing to launch */
        free(dout), free(init), free(got), free(got2), free(want), free(ids), free(order), free(uniq), free(starts);
        return;
    }
    for (uint64_t i = 0; i < (uint64_t)vocab * dim; i++)
        want[i] = init[i];
    scatter_ref(dout, dim, order, uniq, starts, nu, want);
    th_gbuf gd, go, gs, gu, gt;
    CHECK(th_gbuf_create(env, (uint64_t)n * dim, &gd) && th_gbuf_create(env, n, &go) &&
              th_gbuf_create(env, nu + 1, &gs) && th_gbuf_create(env, nu, &gu) &&
              th_gbuf_create(env, (uint64_t)vocab * dim, &gt),
          "buffers");
    CHECK(th_gbuf_upload(&gd, dout) && th_gbuf_upload(&go, (const float *)order) &&
              th_gbuf_upload(&gs, (const float *)starts) && th_gbuf_upload(&gu, (const float *)uniq),
          "upload");
    for (int run = 0; run < 2; run++) {
        CHECK(th_gbuf_upload(&gt, init), "upload");
        CHECK_OK(env, vknmt_seq_begin(env->seq));
        CHECK_OK(env, vknmt_embed_scatter_add(env->seq, th_gbuf_ref(&gd), dim, th_gbuf_ref(&go), th_gbuf_ref(&gs),
                                              th_gbuf_ref(&gu), nu, th_gbuf_ref(&gt), vocab));
        CHECK_OK(env, vknmt_seq_submit(env->seq));
        CHECK(th_gbuf_download(&gt, run ? got2 : got), "download");
    }
    /* fp32 sums of up to k terms in sequence: error <= (k + 1) u sum |terms| per element */
    double worst = 0;
    for (uint32_t u = 0; u < nu; u++) {
        uint32_t k = (uint32_t)(starts[u + 1] - starts[u]);
        for (uint32_t d = 0; d < dim; d++) {
            size_t e = (size_t)uniq[u] * dim + d;
            double mag = fabs(init[e]);
            for (int32_t q = starts[u]; q < starts[u + 1]; q++)
                mag += fabs(dout[(size_t)order[q] * dim + d]);
            double bound = (k + 2) * ldexp(1.0, -24) * mag;
            worst = fmax(worst, fabs(got[e] - want[e]) / bound);
        }
    }
    double err = th_rel_err(got, want, (uint64_t)vocab * dim, 1e-30);
    CHECK(err < 1e-5 && worst <= 1.0,
          "scatter vocab %u dim %u n %u skip %d: relative error %g, %g x the fp32 summation bound", vocab, dim, n,
          skip, err, worst);
    CHECK(!memcmp(got, got2, (size_t)vocab * dim * 4), "scatter: two runs differ in their bits");
    if (skip >= 0 && (uint32_t)skip < vocab)
        CHECK(!memcmp(got + (size_t)skip * dim, init + (size_t)skip * dim, dim * 4), "skipped id's row changed");
    CHECK(th_gbuf_guards_ok(&gd) && th_gbuf_guards_ok(&go) && th_gbuf_guards_ok(&gs) && th_gbuf_guards_ok(&gu) &&
              th_gbuf_guards_ok(&gt),
          "write outside the output");
    th_gbuf_destroy(&gd);
    th_gbuf_destroy(&go);
    th_gbuf_destroy(&gs);
    th_gbuf_destroy(&gu);
    th_gbuf_destroy(&gt);
    free(dout), free(init), free(got), free(got2), free(want), free(ids), free(order), free(uniq), free(starts);
}

static void test_scatter(th_env *env)
{
    static const uint32_t shapes[][3] = {{1, 1, 1}, {7, 13, 37}, {9, 70, 200}, {30, 1, 5}, {8003, 65, 4000}};
    for (size_t i = 0; i < sizeof(shapes) / sizeof(shapes[0]) && !th_failed(); i++) {
        check_scatter(env, shapes[i][0], shapes[i][1], shapes[i][2], -1);
        if (!th_failed())
            check_scatter(env, shapes[i][0], shapes[i][1], shapes[i][2], 0);
    }
}

static void test_shapes(th_env *env)
{
    vknmt_buffer *b;
    CHECK_OK(env, vknmt_buffer_create(env->ctx, 4096, &b));
    vknmt_ref r = vknmt_at(b, 0);
    CHECK_OK(env, vknmt_seq_begin(env->seq));
    vknmt_status s1 = vknmt_embed_gather(env->seq, r, 10, 4, r, 0, r);
    vknmt_status s2 = vknmt_embed_gather(env->seq, r, 1, 4, r, 3, r);
    vknmt_status s3 = vknmt_embed_scatter_add(env->seq, r, 0, r, r, r, 2, r, 10);
    vknmt_status s4 = vknmt_embed_scatter_add(env->seq, r, 4, r, r, r, 0, r, 10);
    vknmt_status s5 = vknmt_embed_gather(env->seq, r, 1000, 4, r, 3, r); /* table beyond the buffer */
    CHECK_OK(env, vknmt_seq_submit(env->seq));
    vknmt_buffer_destroy(b);
    CHECK(s1 == VKNMT_ERR_SHAPE && s2 == VKNMT_ERR_SHAPE && s3 == VKNMT_ERR_SHAPE && s4 == VKNMT_ERR_SHAPE,
          "zero sizes: %s %s %s %s", vknmt_status_name(s1), vknmt_status_name(s2), vknmt_status_name(s3),
          vknmt_status_name(s4));
    CHECK(s5 == VKNMT_ERR_RANGE, "table outside its buffer: %s", vknmt_status_name(s5));
}

void th_register_embed(void)
{
    th_add("embed", "gather", test_gather);
    th_add("embed", "csr", test_csr);
    th_add("embed", "scatter_reference_fd", test_scatter_fd);
    th_add("embed", "scatter", test_scatter);
    th_add("embed", "shapes", test_shapes);
}
