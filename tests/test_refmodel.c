/* The float64 reference model (tests/ref_model.c): its gradient against
 * central finite differences on every parameter entry, and its loss and
 * gradients against the PyTorch fixtures in shared/fixtures. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "ref_model.h"
#include "safetensors.h"

static bool verbose(void) { return getenv("VKNMT_TEST_VERBOSE") != NULL; }

/* A fixed-seed generator: the finite-difference test must not depend on the
 * run's seed (a maxout pair within h of a tie would make it flaky). */
static uint64_t rng;

static double urand(double lo, double hi)
{
    uint64_t z = (rng += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    z ^= z >> 31;
    return lo + (hi - lo) * (double)(z >> 11) * 0x1p-53;
}

/* O(1) weights with non-zero biases and att.v, so that every path carries gradient. */
static void fill_model(ref_model *m)
{
    for (int i = 0; i < m->count; i++) {
        ref_tensor *t = &m->t[i];
        double a = strstr(t->name, "emb") || strcmp(t->name, "att.v") == 0 ? 1.0 : t->ndim == 1 ? 0.5 : 0.7;
        for (size_t k = 0; k < t->size; k++)
            t->data[k] = urand(-a, a);
    }
}

/* A batch with the given lengths, random ids, targets ending in </s>, and
 * `extra` all-padding columns on both sides. */
static bool make_batch(ref_batch *b, const ref_config *c, int B, const int *sl, const int *tl, int extra)
{
    int Tx = 1, Ty = 1;
    for (int k = 0; k < B; k++) {
        Tx = sl[k] > Tx ? sl[k] : Tx;
        Ty = tl[k] > Ty ? tl[k] : Ty;
    }
    if (ref_batch_init(b, B, Tx + extra, Ty + extra) != VKNMT_OK)
        return false;
    for (int k = 0; k < B; k++) {
        b->src_len[k] = sl[k];
        b->tgt_len[k] = tl[k];
        for (int j = 0; j < sl[k]; j++)
            b->src[k * b->Tx + j] = 1 + (int)urand(0, c->Vs - 1);
        for (int i = 0; i < tl[k]; i++)
            b->tgt[k * b->Ty + i] = i == tl[k] - 1 ? REF_EOS : 1 + (int)urand(0, c->Vt - 1);
    }
    return true;
}

/* max over tensors of max|fd - grad| / max|grad|, every entry checked. */
static double fd_error(ref_model *m, const ref_batch *b, const ref_grads *g, const char **worst)
{
    const double h = 1e-5;
    ref_grads tmp = {0};
    double err = 0;
    char msg[256];
    *worst = "";
    for (int i = 0; i < m->count; i++) {
        ref_tensor *t = &m->t[i];
        const ref_tensor *gt = &g->grad.t[i];
        double gmax = 0, dmax = 0;
        for (size_t k = 0; k < t->size; k++) {
            double x = t->data[k];
            t->data[k] = x + h;
            ref_model_loss(m, b, &tmp, msg, sizeof(msg));
            double lp = tmp.loss;
            t->data[k] = x - h;
            ref_model_loss(m, b, &tmp, msg, sizeof(msg));
            double lm = tmp.loss;
            t->data[k] = x;
            double fd = (lp - lm) / (2 * h);
            gmax = fmax(gmax, fabs(gt->data[k]));
            dmax = fmax(dmax, fabs(fd - gt->data[k]));
        }
        double e = gmax > 0 ? dmax / gmax : (dmax > 1e-12 ? INFINITY : 0);
        if (e > err || isnan(e)) {
            err = e;
            *worst = t->name;
        }
        if (verbose())
            printf("    %-11s max|g| %.3e  max|fd-g| %.3e  rel %.2e\n", t->name, gmax, dmax, e);
    }
    ref_grads_free(&tmp);
    return err;
}

static void fd_variant(ref_readout ro, ref_attention at)
{
    ref_config c = {.Vs = 13, .Vt = 13, .m = 5, .n = 6, .na = 4, .l = 3, .readout = ro, .attention = at};
    ref_model m;
    char err[256];
    rng = 12345 + 17 * (uint64_t)ro + 101 * (uint64_t)at;
    CHECK(ref_model_init(&m, &c) == VKNMT_OK, "ref_model_init");
    fill_model(&m);
    /* ragged, with padding columns; batch 1; all lengths 1 */
    static const int sl1[] = {1, 6, 3, 4}, tl1[] = {3, 1, 5, 2}, sl2[] = {5}, tl2[] = {4}, sl3[] = {1}, tl3[] = {1};
    const int *sls[] = {sl1, sl2, sl3}, *tls[] = {tl1, tl2, tl3}, Bs[] = {4, 1, 1}, extras[] = {1, 0, 0};
    for (int k = 0; k < 3 && !th_failed(); k++) {
        ref_batch b;
        ref_grads g = {0};
        if (!make_batch(&b, &c, Bs[k], sls[k], tls[k], extras[k])) {
            th_fail_at(__FILE__, __LINE__, "make_batch");
            break;
        }
        vknmt_status s = ref_model_loss_grad(&m, &b, &g, err, sizeof(err));
        if (s == VKNMT_OK) {
            const char *worst;
            double e = fd_error(&m, &b, &g, &worst);
            if (verbose())
                printf("  %s/%s batch %d: loss %.6f, worst %s %.2e\n", ro ? "linear" : "maxout",
                       at ? "none" : "additive", k, g.loss, worst, e);
            if (!(e < 1e-6) || !isfinite(g.loss))
                th_fail_at(__FILE__, __LINE__, "%s-%s batch %d: finite differences differ by %.3g in %s",
                           ro ? "linear" : "maxout", at ? "none" : "additive", k, e, worst);
        } else {
            th_fail_at(__FILE__, __LINE__, "loss_grad: %s", err);
        }
        ref_grads_free(&g);
        ref_batch_free(&b);
    }
    ref_model_free(&m);
}

static void test_fd_maxout_additive(th_env *env)
{
    (void)env;
    fd_variant(REF_READOUT_MAXOUT, REF_ATT_ADDITIVE);
}

static void test_fd_linear_additive(th_env *env)
{
    (void)env;
    fd_variant(REF_READOUT_LINEAR, REF_ATT_ADDITIVE);
}

static void test_fd_maxout_none(th_env *env)
{
    (void)env;
    fd_variant(REF_READOUT_MAXOUT, REF_ATT_NONE);
}

/* ------------------------------------------------------------------ fixtures */

static void fixture(const char *name)
{
    char path[1024], file[160], err[512];
    ref_model m = {0};
    ref_batch b = {0};
    ref_grads g = {0};
    vknmt_st *want = NULL;
    snprintf(file, sizeof(file), "%s.params.safetensors", name);
    CHECK(ref_fixture_path(file, path, sizeof(path)) == VKNMT_OK, "path too long");
    CHECK(ref_model_load(path, &m, err, sizeof(err)) == VKNMT_OK, "%s", err);
    snprintf(file, sizeof(file), "%s.batch.safetensors", name);
    ref_fixture_path(file, path, sizeof(path));
    if (ref_batch_load(path, &b, err, sizeof(err)) != VKNMT_OK) {
        th_fail_at(__FILE__, __LINE__, "%s", err);
        goto done;
    }
    snprintf(file, sizeof(file), "%s.grads.safetensors", name);
    ref_fixture_path(file, path, sizeof(path));
    if (vknmt_st_open(path, &want, err, sizeof(err)) != VKNMT_OK ||
        ref_model_loss_grad(&m, &b, &g, err, sizeof(err)) != VKNMT_OK) {
        th_fail_at(__FILE__, __LINE__, "%s", err);
        goto done;
    }
    /* the configuration inferred from the shapes is the one in the metadata */
    bool maxout = strstr(name, "maxout") != NULL, att = strstr(name, "additive") != NULL;
    if ((m.cfg.readout == REF_READOUT_MAXOUT) != maxout || (m.cfg.attention == REF_ATT_ADDITIVE) != att ||
        m.cfg.Vs != 64 || m.cfg.Vt != 64 || m.cfg.m != 16 || m.cfg.n != 32 || (att && m.cfg.na != 32) ||
        (maxout && m.cfg.l != 16)) {
        th_fail_at(__FILE__, __LINE__, "%s: wrong configuration inferred", name);
        goto done;
    }
    double loss, ce, ntok;
    const vknmt_st_tensor *tl = vknmt_st_find(want, "loss"), *tc = vknmt_st_find(want, "ce"),
                          *tn = vknmt_st_find(want, "ntok");
    if (!tl || !tc || !tn || vknmt_st_to_f64(tl, &loss, 1, err, sizeof(err)) ||
        vknmt_st_to_f64(tc, &ce, 1, err, sizeof(err)) || vknmt_st_to_f64(tn, &ntok, 1, err, sizeof(err))) {
        th_fail_at(__FILE__, __LINE__, "%s: loss/ce/ntok unreadable", name);
        goto done;
    }
    double el = fabs(g.loss - loss) / fabs(loss), ec = fabs(g.ce - ce) / fabs(ce);
    if (verbose())
        printf("  %s: loss %.12f (want %.12f, rel %.2e), ce rel %.2e, ntok %ld\n", name, g.loss, loss, el, ec,
               g.ntok);
    if (!(el < 1e-9) || !(ec < 1e-9) || (double)g.ntok != ntok) {
        th_fail_at(__FILE__, __LINE__, "%s: loss %.15g want %.15g (rel %.3g), ce %.15g want %.15g, ntok %ld want %g",
                   name, g.loss, loss, el, g.ce, ce, g.ntok, ntok);
        goto done;
    }
    size_t ngrad = 0;
    for (size_t i = 0; i < vknmt_st_count(want); i++)
        ngrad += strncmp(vknmt_st_name_at(want, i), "grad.", 5) == 0;
    if (ngrad != (size_t)g.grad.count) {
        th_fail_at(__FILE__, __LINE__, "%s: the file has %zu gradients, the model %d tensors", name, ngrad,
                   g.grad.count);
        goto done;
    }
    for (int i = 0; i < g.grad.count; i++) {
        const ref_tensor *t = &g.grad.t[i];
        char gname[64];
        snprintf(gname, sizeof(gname), "grad.%s", t->name);
        const vknmt_st_tensor *w = vknmt_st_find(want, gname);
        double *ref = malloc(t->size * sizeof(double));
        if (!w || w->numel != t->size || !ref || vknmt_st_to_f64(w, ref, t->size, err, sizeof(err))) {
            free(ref);
            th_fail_at(__FILE__, __LINE__, "%s: %s missing or of the wrong size", name, gname);
            goto done;
        }
        double rmax = 0, dmax = 0;
        for (size_t k = 0; k < t->size; k++) {
            rmax = fmax(rmax, fabs(ref[k]));
            dmax = fmax(dmax, fabs(ref[k] - t->data[k]));
        }
        free(ref);
        double e = rmax > 0 ? dmax / rmax : dmax;
        if (verbose())
            printf("    %-16s max|g| %.3e rel err %.2e\n", gname, rmax, e);
        if (!(e < 1e-8) || rmax == 0) {
            th_fail_at(__FILE__, __LINE__, "%s: %s differs by %.3g of its largest entry %.3g", name, gname, e, rmax);
            goto done;
        }
    }
done:
    vknmt_st_destroy(want);
    ref_grads_free(&g);
    ref_batch_free(&b);
    ref_model_free(&m);
}

static void test_fixture_maxout_additive(th_env *env)
{
    (void)env;
    fixture("tiny-maxout-additive");
}

static void test_fixture_linear_additive(th_env *env)
{
    (void)env;
    fixture("tiny-linear-additive");
}

static void test_fixture_maxout_none(th_env *env)
{
    (void)env;
    fixture("tiny-maxout-none");
}

/* ---------------------------------------------------------------- checkpoints */

/* save_f32 -> load gives the same configuration and values; a checkpoint
 * missing a tensor or with a wrong shape is refused. */
static void test_checkpoint(th_env *env)
{
    (void)env;
    char dir[512], path[700], err[512];
    CHECK(th_make_temp_dir(dir, sizeof(dir), "ref"), "mkdtemp failed");
    snprintf(path, sizeof(path), "%s/ckpt.safetensors", dir);
    ref_config cfgs[3] = {
        {.Vs = 9, .Vt = 11, .m = 3, .n = 4, .na = 5, .l = 2, .readout = REF_READOUT_MAXOUT},
        {.Vs = 9, .Vt = 11, .m = 3, .n = 4, .na = 5, .l = 0, .readout = REF_READOUT_LINEAR},
        {.Vs = 9, .Vt = 11, .m = 3, .n = 4, .na = 4, .l = 2, .readout = REF_READOUT_MAXOUT,
         .attention = REF_ATT_NONE},
    };
    rng = 777;
    for (int v = 0; v < 3 && !th_failed(); v++) {
        ref_model a, b = {0};
        if (ref_model_init(&a, &cfgs[v]) != VKNMT_OK) {
            th_fail_at(__FILE__, __LINE__, "init");
            break;
        }
        fill_model(&a);
        if (ref_model_save_f32(&a, path, err, sizeof(err)) || ref_model_load(path, &b, err, sizeof(err))) {
            th_fail_at(__FILE__, __LINE__, "variant %d: %s", v, err);
        } else if (memcmp(&a.cfg, &b.cfg, sizeof(a.cfg)) != 0 || a.count != b.count) {
            th_fail_at(__FILE__, __LINE__, "variant %d: configuration changed in the round trip", v);
        } else {
            for (int i = 0; i < a.count; i++)
                for (size_t k = 0; k < a.t[i].size; k++)
                    if (b.t[i].data[k] != (double)(float)a.t[i].data[k]) {
                        th_fail_at(__FILE__, __LINE__, "variant %d: %s[%zu] changed", v, a.t[i].name, k);
                        i = a.count;
                        break;
                    }
        }
        ref_model_free(&b);
        /* missing and misshapen tensors */
        if (!th_failed() && v == 0) {
            vknmt_st_writer *w;
            vknmt_st_writer_create(&w);
            for (int i = 0; i < a.count; i++) {
                if (strcmp(a.t[i].name, "dec.U") == 0)
                    continue;
                uint64_t shape[2] = {(uint64_t)a.t[i].shape[0], (uint64_t)a.t[i].shape[1]};
                vknmt_st_writer_add(w, a.t[i].name, VKNMT_ST_F64, (uint32_t)a.t[i].ndim, shape, a.t[i].data);
            }
            vknmt_status s1 = vknmt_st_writer_save(w, path, err, sizeof(err));
            if (!s1)
                s1 = ref_model_load(path, &b, err, sizeof(err));
            bool named = strstr(err, "dec.U") != NULL;
            uint64_t wrong[2] = {12, 4}; /* dec.U is [3n, n] = [12, 4]; give it a wrong [12, 5] via dec.C's data */
            wrong[1] = 5;
            vknmt_st_writer_add(w, "dec.U", VKNMT_ST_F64, 2, wrong, ref_model_param(&a, "dec.C")->data);
            vknmt_status s2 = vknmt_st_writer_save(w, path, err, sizeof(err));
            if (!s2)
                s2 = ref_model_load(path, &b, err, sizeof(err));
            vknmt_st_writer_destroy(w);
            if (s1 != VKNMT_ERR_INPUT || !named || s2 != VKNMT_ERR_INPUT || !strstr(err, "dec.U") || b.count)
                th_fail_at(__FILE__, __LINE__, "a checkpoint without dec.U or with a misshapen one was accepted (%s)",
                           err);
        }
        ref_model_free(&a);
    }
    unlink(path);
    rmdir(dir);
}

void th_register_refmodel(void)
{
    th_add("refmodel", "fd_maxout_additive", test_fd_maxout_additive);
    th_add("refmodel", "fd_linear_additive", test_fd_linear_additive);
    th_add("refmodel", "fd_maxout_none", test_fd_maxout_none);
    th_add("refmodel", "fixture_maxout_additive", test_fixture_maxout_additive);
    th_add("refmodel", "fixture_linear_additive", test_fixture_linear_additive);
    th_add("refmodel", "fixture_maxout_none", test_fixture_maxout_none);
    th_add("refmodel", "checkpoint", test_checkpoint);
}
