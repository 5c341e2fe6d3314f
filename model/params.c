#include "params.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define ALIGN 64

static void add(vknmt_param_layout *lay, const char *name, uint32_t rows, uint32_t cols)
{
    vknmt_param *p = &lay->p[lay->count++];
    p->name = name;
    p->ndim = cols ? 2 : 1;
    p->rows = rows;
    p->cols = cols ? cols : 1;
    p->offset = lay->total;
    lay->total += (vknmt_param_size(p) + ALIGN - 1) / ALIGN * ALIGN;
}

void vknmt_param_layout_make(const vknmt_model_config *c, vknmt_param_layout *lay)
{
    memset(lay, 0, sizeof(*lay));
    uint32_t n = c->n, m = c->m;
    add(lay, "enc.emb", c->vs, m);
    add(lay, "enc.fwd.W", 3 * n, m);
    add(lay, "enc.fwd.U", 3 * n, n);
    add(lay, "enc.fwd.b", 3 * n, 0);
    add(lay, "enc.bwd.W", 3 * n, m);
    add(lay, "enc.bwd.U", 3 * n, n);
    add(lay, "enc.bwd.b", 3 * n, 0);
    add(lay, "dec.init.W", n, n);
    add(lay, "dec.init.b", n, 0);
    if (c->attention == VKNMT_ATTENTION_ADDITIVE) {
        add(lay, "att.W", c->na, n);
        add(lay, "att.U", c->na, 2 * n);
        add(lay, "att.b", c->na, 0);
        add(lay, "att.v", c->na, 0);
    }
    add(lay, "dec.emb", c->vt, m);
    add(lay, "dec.W", 3 * n, m);
    add(lay, "dec.U", 3 * n, n);
    add(lay, "dec.C", 3 * n, 2 * n);
    add(lay, "dec.b", 3 * n, 0);
    if (c->readout == VKNMT_READOUT_MAXOUT) {
        add(lay, "out.U", 2 * c->l, n);
        add(lay, "out.V", 2 * c->l, m);
        add(lay, "out.C", 2 * c->l, 2 * n);
        add(lay, "out.b", 2 * c->l, 0);
        add(lay, "out.W", c->vt, c->l);
    } else {
        add(lay, "out.W", c->vt, n + 2 * n + m);
    }
    add(lay, "out.bW", c->vt, 0);
}

const vknmt_param *vknmt_param_find(const vknmt_param_layout *lay, const char *name)
{
    for (uint32_t i = 0; i < lay->count; i++)
        if (strcmp(lay->p[i].name, name) == 0)
            return &lay->p[i];
    return NULL;
}

typedef struct rng {
    uint64_t s;
    double spare;
    int has_spare;
} rng;

static uint64_t next_u64(rng *r)
{
    uint64_t z = (r->s += 0x9e3779b97f4a7c15ull); /* splitmix64 */
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static double gaussian(rng *r)
{
    if (r->has_spare) {
        r->has_spare = 0;
        return r->spare;
    }
    double u, v, s;
    do { /* Marsaglia's polar method */
        u = 2.0 * ((double)(next_u64(r) >> 11) * 0x1p-53) - 1.0;
        v = 2.0 * ((double)(next_u64(r) >> 11) * 0x1p-53) - 1.0;
        s = u * u + v * v;
    } while (s >= 1.0 || s == 0.0);
    double f = sqrt(-2.0 * log(s) / s);
    r->spare = v * f;
    r->has_spare = 1;
    return u * f;
}

/* A random orthogonal n x n matrix: Gram-Schmidt (twice, for accuracy) on
 * the rows of a Gaussian matrix, written into rows of `out` (row stride n). */
static void orthogonal(rng *r, uint32_t n, float *out)
{
    double *q = malloc((size_t)n * n * sizeof(double));
    if (!q) { /* no memory: fall back to the identity, still orthogonal */
        for (uint32_t i = 0; i < n; i++)
            for (uint32_t j = 0; j < n; j++)
                out[(size_t)i * n + j] = i == j;
        return;
    }
    for (size_t i = 0; i < (size_t)n * n; i++)
        q[i] = gaussian(r);
    for (uint32_t i = 0; i < n; i++) {
        double *qi = q + (size_t)i * n;
        for (int pass = 0; pass < 2; pass++)
            for (uint32_t j = 0; j < i; j++) {
                const double *qj = q + (size_t)j * n;
                double d = 0;
                for (uint32_t k = 0; k < n; k++)
                    d += qi[k] * qj[k];
                for (uint32_t k = 0; k < n; k++)
                    qi[k] -= d * qj[k];
            }
        double norm = 0;
        for (uint32_t k = 0; k < n; k++)
            norm += qi[k] * qi[k];
        norm = sqrt(norm);
        for (uint32_t k = 0; k < n; k++)
            qi[k] /= norm;
    }
    for (size_t i = 0; i < (size_t)n * n; i++)
        out[i] = (float)q[i];
    free(q);
}

static int is_bias(const char *name)
{
    size_t len = strlen(name);
    return (len >= 2 && strcmp(name + len - 2, ".b") == 0) || strcmp(name, "out.bW") == 0 ||
           strcmp(name, "att.v") == 0;
}

void vknmt_params_init(const vknmt_param_layout *lay, uint64_t seed, float *flat)
{
    rng r = {seed, 0, 0};
    memset(flat, 0, lay->total * sizeof(float));
    for (uint32_t i = 0; i < lay->count; i++) {
        const vknmt_param *p = &lay->p[i];
        float *x = flat + p->offset;
        const char *nm = p->name;
        if (is_bias(nm))
            continue;
        if (strcmp(nm, "enc.fwd.U") == 0 || strcmp(nm, "enc.bwd.U") == 0 || strcmp(nm, "dec.U") == 0) {
            for (uint32_t g = 0; g < 3; g++) /* r, z, h~ blocks, each [n, n] */
                orthogonal(&r, p->cols, x + (size_t)g * p->cols * p->cols);
            continue;
        }
        double sd = strcmp(nm, "att.W") == 0 || strcmp(nm, "att.U") == 0 ? 0.001 : 0.01;
        for (uint64_t k = 0; k < vknmt_param_size(p); k++)
            x[k] = (float)(sd * gaussian(&r));
    }
}
