/* Parameter layout (the spec's names and shapes) and initialisation. */
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "params.h"

static void test_layout(th_env *env)
{
    (void)env;
    vknmt_model_config c;
    CHECK(vknmt_config_preset("tiny", &c) == VKNMT_OK, "tiny preset");
    CHECK(c.vs == 64 && c.m == 16 && c.n == 32 && c.na == 32 && c.l == 16, "tiny sizes");
    vknmt_model_config bad;
    CHECK(vknmt_config_preset("huge", &bad) == VKNMT_ERR_USAGE, "unknown preset accepted");
    static const struct { const char *name; uint32_t rows, cols; } want[] = {
        {"enc.emb", 64, 16}, {"enc.fwd.W", 96, 16}, {"enc.fwd.U", 96, 32}, {"enc.fwd.b", 96, 1},
        {"enc.bwd.W", 96, 16}, {"enc.bwd.U", 96, 32}, {"enc.bwd.b", 96, 1}, {"dec.init.W", 32, 32},
        {"dec.init.b", 32, 1}, {"att.W", 32, 32}, {"att.U", 32, 64}, {"att.b", 32, 1}, {"att.v", 32, 1},
        {"dec.emb", 64, 16}, {"dec.W", 96, 16}, {"dec.U", 96, 32}, {"dec.C", 96, 64}, {"dec.b", 96, 1},
        {"out.U", 32, 32}, {"out.V", 32, 16}, {"out.C", 32, 64}, {"out.b", 32, 1}, {"out.W", 64, 16},
        {"out.bW", 64, 1}};
    vknmt_param_layout lay;
    vknmt_param_layout_make(&c, &lay);
    CHECK(lay.count == sizeof(want) / sizeof(want[0]), "%u tensors", lay.count);
    uint64_t end = 0;
    for (uint32_t i = 0; i < lay.count; i++) {
        const vknmt_param *p = vknmt_param_find(&lay, want[i].name);
        CHECK(p && p->rows == want[i].rows && p->cols == want[i].cols, "%s shape", want[i].name);
        CHECK(p->offset % 64 == 0 && p->offset >= end, "%s offset %llu", p->name, (unsigned long long)p->offset);
        end = p->offset + vknmt_param_size(p);
    }
    CHECK(end <= lay.total, "total %llu < end %llu", (unsigned long long)lay.total, (unsigned long long)end);
    /* the variants drop or reshape tensors */
    c.attention = VKNMT_ATTENTION_NONE;
    c.readout = VKNMT_READOUT_LINEAR;
    vknmt_param_layout_make(&c, &lay);
    CHECK(!vknmt_param_find(&lay, "att.W") && !vknmt_param_find(&lay, "out.U"), "none/linear keep att/out.U");
    const vknmt_param *w = vknmt_param_find(&lay, "out.W");
    CHECK(w && w->rows == 64 && w->cols == 32 + 64 + 16, "linear out.W [Vt, n+2n+m]");
}

static void test_init(th_env *env)
{
    (void)env;
    vknmt_model_config c;
    CHECK(vknmt_config_preset("tiny", &c) == VKNMT_OK, "tiny");
    c.vs = c.vt = 3000; /* enough samples for the statistics */
    vknmt_param_layout lay;
    vknmt_param_layout_make(&c, &lay);
    float *a = malloc(lay.total * 4), *b = malloc(lay.total * 4);
    CHECK(a && b, "out of memory");
    vknmt_params_init(&lay, 42, a);
    vknmt_params_init(&lay, 42, b);
    CHECK(memcmp(a, b, lay.total * 4) == 0, "same seed, different parameters");
    vknmt_params_init(&lay, 43, b);
    CHECK(memcmp(a, b, lay.total * 4) != 0, "different seeds, same parameters");
    /* orthogonal recurrent blocks: Q Q^T = I */
    static const char *rec[] = {"enc.fwd.U", "enc.bwd.U", "dec.U"};
    for (int r = 0; r < 3; r++) {
        const vknmt_param *p = vknmt_param_find(&lay, rec[r]);
        uint32_t n = p->cols;
        for (uint32_t g = 0; g < 3; g++) {
            const float *q = a + p->offset + (size_t)g * n * n;
            double worst = 0;
            for (uint32_t i = 0; i < n; i++)
                for (uint32_t j = 0; j < n; j++) {
                    double d = 0;
                    for (uint32_t k = 0; k < n; k++)
                        d += (double)q[i * n + k] * q[j * n + k];
                    worst = fmax(worst, fabs(d - (i == j)));
                }
            CHECK(worst < 1e-5, "%s block %u: |QQ^T - I| = %g", rec[r], g, worst);
        }
    }
    /* zero biases and att.v; standard deviations 0.01 and 0.001 */
    static const char *zero[] = {"enc.fwd.b", "dec.b", "att.v", "att.b", "out.bW", "out.b", "dec.init.b"};
    for (int z = 0; z < 7; z++) {
        const vknmt_param *p = vknmt_param_find(&lay, zero[z]);
        for (uint64_t k = 0; k < vknmt_param_size(p); k++)
            CHECK(a[p->offset + k] == 0, "%s not zero", zero[z]);
    }
    static const struct { const char *name; double sd; } sds[] = {{"enc.emb", 0.01}, {"att.U", 0.001}};
    for (int s = 0; s < 2; s++) {
        const vknmt_param *p = vknmt_param_find(&lay, sds[s].name);
        double sum = 0, sq = 0, nn = (double)vknmt_param_size(p);
        for (uint64_t k = 0; k < vknmt_param_size(p); k++) {
            sum += a[p->offset + k];
            sq += (double)a[p->offset + k] * a[p->offset + k];
        }
        double sd = sqrt(sq / nn - (sum / nn) * (sum / nn));
        CHECK(fabs(sd / sds[s].sd - 1) < 0.05 && fabs(sum / nn) < 0.1 * sds[s].sd, "%s: mean %g sd %g", sds[s].name,
              sum / nn, sd);
    }
    free(a);
    free(b);
}

void th_register_params(void)
{
    th_add("params", "layout", test_layout);
    th_add("params", "init", test_init);
}
