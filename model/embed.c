/* Embedding lookup (gather) and its gradient (CSR scatter-add, no atomics). */
#include <stdlib.h>

#include "embed.h"
#include "vknmt_kernel.h"

#define LOCAL 64

static const vknmt_kernel_desc K_GATHER = {"embed_gather", VKNMT_SPIRV(embed_gather), 3,
                                           {VKNMT_BIND_SSBO, VKNMT_BIND_SSBO, VKNMT_BIND_SSBO}, 24, 1};
static const vknmt_kernel_desc K_GATHER_VEC4 = {"embed_gather_vec4", VKNMT_SPIRV(embed_gather_vec4), 3,
                                                {VKNMT_BIND_SSBO, VKNMT_BIND_SSBO, VKNMT_BIND_SSBO}, 24, 1};
static const vknmt_kernel_desc K_GATHER2_VEC4 = {
    "embed_gather2_vec4", VKNMT_SPIRV(embed_gather2_vec4), 6,
    {VKNMT_BIND_SSBO, VKNMT_BIND_SSBO, VKNMT_BIND_SSBO, VKNMT_BIND_SSBO, VKNMT_BIND_SSBO, VKNMT_BIND_SSBO}, 48, 1};
static const vknmt_kernel_desc K_SCATTER = {
    "embed_scatter", VKNMT_SPIRV(embed_scatter), 5,
    {VKNMT_BIND_SSBO, VKNMT_BIND_SSBO, VKNMT_BIND_SSBO, VKNMT_BIND_SSBO, VKNMT_BIND_SSBO}, 40, 1};

static vknmt_status run(vknmt_seq *seq, const vknmt_kernel_desc *k, const void *push, const vknmt_binding *b,
                        uint64_t n)
{
    uint32_t spec[1] = {LOCAL};
    vknmt_dispatch d = {.kernel = k, .spec = spec, .push = push, .bindings = b};
    vknmt_grid_1d((n + LOCAL - 1) / LOCAL, d.groups);
    return vknmt_seq_dispatch(seq, &d);
}

/* A lookup's push constants (shaders/embed_gather.comp's Lookup). */
typedef struct lookup_push {
    uint32_t off_table, off_ids, off_out, vocab, dim, n;
} lookup_push;

/* Checks and binds one lookup; *quads: it can run a quad per invocation
 * (then p counts quads). */
static vknmt_status lookup_bind(vknmt_seq *seq, const vknmt_lookup *l, vknmt_binding b[3], lookup_push *p, bool *quads)
{
    vknmt_context *ctx = vknmt_seq_context(seq);
    uint32_t vocab = l->vocab, dim = l->dim, n = l->n;
    /* Out-of-range ids read row 1 (<unk>), which must exist. */
    if (vocab < 2 || dim == 0 || n == 0 || (uint64_t)n * dim > UINT32_MAX || (uint64_t)vocab * dim > UINT32_MAX)
        return vknmt_seq_fail(seq, VKNMT_ERR_SHAPE, "embed_gather: vocab %u (>= 2), dim %u, n %u", vocab, dim, n);
    vknmt_status s;
    if ((s = vknmt_bind(ctx, l->table, (uint64_t)vocab * dim, VKNMT_READ, VKNMT_BIND_SSBO, &b[0], &p->off_table)) ||
        (s = vknmt_bind(ctx, l->ids, n, VKNMT_READ, VKNMT_BIND_SSBO, &b[1], &p->off_ids)) ||
        (s = vknmt_bind(ctx, l->out, (uint64_t)n * dim, VKNMT_WRITE, VKNMT_BIND_SSBO, &b[2], &p->off_out)))
        return s;
    p->vocab = vocab;
    p->dim = dim;
    p->n = n;
    *quads = dim % 4 == 0 && p->off_table % 4 == 0 && p->off_out % 4 == 0;
    if (*quads) {
        p->dim /= 4;
        p->off_table /= 4;
        p->off_out /= 4;
    }
    return VKNMT_OK;
}

vknmt_status vknmt_embed_gather(vknmt_seq *seq, vknmt_ref table, uint32_t vocab, uint32_t dim, vknmt_ref ids,
                                uint32_t n, vknmt_ref out)
{
    vknmt_lookup l = {table, vocab, dim, ids, n, out};
    vknmt_binding b[3];
    lookup_push p;
    bool quads;
    vknmt_status s = lookup_bind(seq, &l, b, &p, &quads);
    if (s)
        return s;
    return run(seq, quads ? &K_GATHER_VEC4 : &K_GATHER, &p, b, (uint64_t)p.n * p.dim);
}

vknmt_status vknmt_embed_gather2(vknmt_seq *seq, const vknmt_lookup *first, const vknmt_lookup *second)
{
    vknmt_binding b[6];
    lookup_push p[2];
    bool quads[2] = {false, false};
    vknmt_status s;
    if ((s = lookup_bind(seq, first, b, &p[0], &quads[0])) || (s = lookup_bind(seq, second, b + 3, &p[1], &quads[1])))
        return s;
    if (quads[0] && quads[1])
        return run(seq, &K_GATHER2_VEC4, p, b, (uint64_t)p[0].n * p[0].dim + (uint64_t)p[1].n * p[1].dim);
    if ((s = run(seq, quads[0] ? &K_GATHER_VEC4 : &K_GATHER, &p[0], b, (uint64_t)p[0].n * p[0].dim)))
        return s;
    return run(seq, quads[1] ? &K_GATHER_VEC4 : &K_GATHER, &p[1], b + 3, (uint64_t)p[1].n * p[1].dim);
}

/* The header gives no length for dout and order (it is starts[n_uniq], known
 * on the device only): bind from their offsets to the end of their buffers,
 * within the storage range, and let the kernel skip anything beyond. */
static uint64_t rest_of(vknmt_context *ctx, vknmt_ref r, uint64_t unit)
{
    const vknmt_caps *caps = vknmt_context_caps(ctx);
    uint64_t size = vknmt_buffer_size(r.buf) / 4, rest = size > r.off ? size - r.off : 0;
    uint64_t slack = caps->min_storage_offset_align, limit = caps->max_storage_buffer_range;
    uint64_t max = limit > slack ? (limit - slack) / 4 : 0;
    if (rest > max)
        rest = max;
    if (rest > UINT32_MAX)
        rest = UINT32_MAX;
    return rest / unit;
}

vknmt_status vknmt_embed_scatter_add(vknmt_seq *seq, vknmt_ref dout, uint32_t dim, vknmt_ref order,
                                     vknmt_ref starts, vknmt_ref uniq, uint32_t n_uniq, vknmt_ref dtable,
                                     uint32_t vocab)
{
    vknmt_context *ctx = vknmt_seq_context(seq);
    if (vocab == 0 || dim == 0 || n_uniq == 0 || n_uniq == UINT32_MAX || (uint64_t)n_uniq * dim > UINT32_MAX ||
        (uint64_t)vocab * dim > UINT32_MAX)
        return vknmt_seq_fail(seq, VKNMT_ERR_SHAPE, "embed_scatter_add: vocab %u, dim %u, n_uniq %u", vocab, dim,
                              n_uniq);
    if (!dout.buf || !order.buf)
        return vknmt_seq_fail(seq, VKNMT_ERR_USAGE, "embed_scatter_add: missing buffer");
    uint64_t dout_rows = rest_of(ctx, dout, dim), order_len = rest_of(ctx, order, 1);
    if (dout_rows == 0 || order_len == 0)
        return vknmt_seq_fail(seq, VKNMT_ERR_RANGE, "embed_scatter_add: dout or order lies outside its buffer");
    vknmt_binding b[5];
    struct {
        uint32_t off_dout, off_order, off_starts, off_uniq, off_dtable;
        uint32_t dim, n_uniq, vocab, dout_rows, order_len;
    } p;
    vknmt_status s;
    if ((s = vknmt_bind(ctx, dout, dout_rows * dim, VKNMT_READ, VKNMT_BIND_SSBO, &b[0], &p.off_dout)) ||
        (s = vknmt_bind(ctx, order, order_len, VKNMT_READ, VKNMT_BIND_SSBO, &b[1], &p.off_order)) ||
        (s = vknmt_bind(ctx, starts, (uint64_t)n_uniq + 1, VKNMT_READ, VKNMT_BIND_SSBO, &b[2], &p.off_starts)) ||
        (s = vknmt_bind(ctx, uniq, n_uniq, VKNMT_READ, VKNMT_BIND_SSBO, &b[3], &p.off_uniq)) ||
        (s = vknmt_bind(ctx, dtable, (uint64_t)vocab * dim, VKNMT_READ | VKNMT_WRITE, VKNMT_BIND_SSBO, &b[4],
                        &p.off_dtable)))
        return s;
    p.dim = dim;
    p.n_uniq = n_uniq;
    p.vocab = vocab;
    p.dout_rows = (uint32_t)dout_rows;
    p.order_len = (uint32_t)order_len;
    return run(seq, &K_SCATTER, &p, b, (uint64_t)n_uniq * dim);
}

/* Positions are ordered by (id, position): a total order, so any correct
 * sort gives the stable order. Heapsort: no allocation, O(n log n). */
static bool pos_less(const int32_t *ids, int32_t a, int32_t b)
{
    return ids[a] < ids[b] || (ids[a] == ids[b] && a < b);
}

static void sift_down(const int32_t *ids, int32_t *h, uint32_t root, uint32_t len)
{
    for (;;) {
        uint32_t c = 2 * root + 1;
        if (c >= len)
            return;
        if (c + 1 < len && pos_less(ids, h[c], h[c + 1]))
            c++;
        if (!pos_less(ids, h[root], h[c]))
            return;
        int32_t t = h[root];
        h[root] = h[c];
        h[c] = t;
        root = c;
    }
}

void vknmt_embed_csr(const int32_t *ids, uint32_t n, int32_t ids_skip, int32_t *order, int32_t *uniq,
                     int32_t *starts, uint32_t *n_uniq)
{
    uint32_t m = 0;
    for (uint32_t i = 0; i < n; i++)
        if (ids[i] != ids_skip)
            order[m++] = (int32_t)i;
    for (uint32_t i = m / 2; i-- > 0;)
        sift_down(ids, order, i, m);
    for (uint32_t end = m; end > 1; end--) {
        int32_t t = order[0];
        order[0] = order[end - 1];
        order[end - 1] = t;
        sift_down(ids, order, 0, end - 1);
    }
    uint32_t u = 0;
    for (uint32_t p = 0; p < m; p++) {
        if (p == 0 || ids[order[p]] != ids[order[p - 1]]) {
            uniq[u] = ids[order[p]];
            starts[u++] = (int32_t)p;
        }
    }
    starts[u] = (int32_t)m;
    *n_uniq = u;
    for (uint32_t p = m; p < n; p++)
        order[p] = -1; /* skipped positions: never referenced by starts */
}
