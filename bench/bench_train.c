/* vknmt bench train: RNNsearch training steps (forward, backward, clipping,
 * Adadelta: vknmt_model_train_step) on the real corpus at batch 80, beside
 * the PyTorch reference (shared/ref/bench_cpu.py) run in the same process
 * tree, or beside the figures its README records. */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "batcher.h"
#include "bench.h"
#include "cli.h"
#include "corpus.h"
#include "rnnsearch.h"

#define TRAIN_BATCH 80
#define TRAIN_MAX_LEN 50
#define TRAIN_SEED 1234
#define TWO_GIB (2ull << 30)

typedef struct preset_plan {
    const char *name;
    int warmup, steps;
    /* shared/ref/README.md, "Measured CPU throughput": train tok/s of the
     * reference as asked (2 torch threads, plain) and its fastest setting. */
    double recorded_plain, recorded_tuned;
} preset_plan;

static const preset_plan plans[] = {
    {"small", 3, 12, 585, 3196},
    {"paper", 1, 3, 144, 355},
};

typedef struct train_result {
    bool ok;
    char error[1024];
    double tokens_per_s, step_ms, peak_mb;
    uint64_t tokens;
    uint64_t dispatches, barriers, fills; /* per timed step, mean */
    double ref_tokens_per_s; /* NAN: none */
    bool ref_measured;
} train_result;

/* The shared/ folder: $VKNMT_SHARED, else beside the checkout the binary was
 * built in (build-dir/vknmt -> ../../shared), else ./shared or ../shared. */
/* Runs `python3 bench_cpu.py --preset P --no-decode` from the reference's
 * folder, echoes its lines to stderr, and returns its "TRAIN median N
 * target tok/s" (NAN when it failed). */
static double run_reference(const char *ref_dir, const char *data_dir, const preset_plan *p)
{
    char cmd[PATH_MAX * 2 + 256];
    snprintf(cmd, sizeof(cmd),
             "cd '%s' && /usr/bin/python3 bench_cpu.py --preset %s --no-decode --warmup %d --steps %d "
             "--data '%s' 2>&1",
             ref_dir, p->name, p->warmup, p->steps, data_dir);
    fprintf(stderr, "reference: %s\n", cmd);
    FILE *pipe = popen(cmd, "r");
    if (!pipe) {
        fprintf(stderr, "reference: cannot start: %s\n", strerror(errno));
        return NAN;
    }
    double tps = NAN;
    char line[1024];
    while (fgets(line, sizeof(line), pipe)) {
        fprintf(stderr, "  ref| %s", line);
        const char *m = strstr(line, "TRAIN median ");
        double v;
        if (m && sscanf(m, "TRAIN median %lf", &v) == 1)
            tps = v;
    }
    int st = pclose(pipe);
    if (st != 0)
        fprintf(stderr, "reference: exited with status %d\n", st);
    return tps;
}

/* Loads the corpus with the preset's vocabularies, trains warm-up then
 * timed steps, fills `r`. Returns false only on a host-side failure that
 * should stop the bench (the corpus); device failures land in r->error. */
static bool bench_preset(vknmt_context *ctx, const preset_plan *p, const char *src_path, const char *tgt_path,
                         train_result *r)
{
    vknmt_model_config cfg;
    char err[512];
    vknmt_corpus *corpus = NULL;
    vknmt_batcher *batcher = NULL;
    vknmt_model *model = NULL;
    float *flat = NULL;
    double *ms = NULL;
    bool keep_going = false;

    if (vknmt_config_preset(p->name, &cfg)) {
        snprintf(r->error, sizeof(r->error), "no preset '%s'", p->name);
        return false;
    }
    /* The reference splits on white space and keeps case: the same tokens. */
    vknmt_corpus_options co = {.tok = {.lowercase = false, .pretokenized = true},
                               .max_len = TRAIN_MAX_LEN,
                               .src_vocab_size = cfg.vs,
                               .tgt_vocab_size = cfg.vt};
    if (vknmt_corpus_load(src_path, tgt_path, &co, &corpus, err, sizeof(err))) {
        snprintf(r->error, sizeof(r->error), "corpus: %s", err);
        return false;
    }
    vknmt_batcher_options bo = {.batch_size = TRAIN_BATCH, .seed = TRAIN_SEED};
    if (vknmt_batcher_create(corpus, &bo, &batcher, err, sizeof(err))) {
        snprintf(r->error, sizeof(r->error), "batcher: %s", err);
        goto free_corpus;
    }
    keep_going = true;

    char step_name[64];
    const char *stage = "model create";
    vknmt_status s = vknmt_model_create(ctx, &cfg, &model);
    if (s)
        goto device_error;
    const vknmt_param_layout *lay = vknmt_model_layout(model);
    flat = malloc(lay->total * sizeof(float));
    ms = calloc((size_t)p->steps, sizeof(double));
    if (!flat || !ms) {
        snprintf(r->error, sizeof(r->error), "out of host memory");
        goto free_model;
    }
    vknmt_params_init(lay, TRAIN_SEED, flat);
    stage = "parameter upload";
    if ((s = vknmt_model_params_upload(model, flat)))
        goto device_error;
    free(flat);
    flat = NULL;

    vknmt_train_options opt = vknmt_train_defaults();
    double wall = 0;
    for (int i = 0; i < p->warmup + p->steps; i++) {
        vknmt_minibatch mb;
        if ((s = vknmt_batcher_next(batcher, &mb))) {
            snprintf(r->error, sizeof(r->error), "batcher: %s", vknmt_status_name(s));
            goto free_model;
        }
        vknmt_batch b = {mb.size, mb.src_T, mb.tgt_T, mb.src, mb.src_len, mb.tgt, mb.tgt_len};
        vknmt_step_result res;
        snprintf(step_name, sizeof(step_name), "train step %d (B=%u Tx=%u Ty=%u)", i, mb.size, mb.src_T, mb.tgt_T);
        stage = step_name;
        double t0 = vknmt_bench_now();
        if ((s = vknmt_model_train_step(model, &b, &opt, &res)))
            goto device_error;
        double dt = vknmt_bench_now() - t0;
        bool timed = i >= p->warmup;
        fprintf(stderr, "  %s step %2d (%s) B=%u Tx=%u Ty=%u tok=%u loss=%.3f |g|=%.3f%s %.3fs -> %.0f tok/s\n",
                p->name, i, timed ? "timed" : "warm-up", mb.size, mb.src_T, mb.tgt_T, res.loss.ntok, res.loss.loss,
                res.grad_norm, res.skipped ? " SKIPPED" : "", dt, res.loss.ntok / dt);
        if (timed) {
            vknmt_seq_stats st = vknmt_model_last_stats(model);
            r->dispatches += st.dispatches;
            r->barriers += st.barriers;
            r->fills += st.fills;
            ms[i - p->warmup] = dt * 1e3;
            wall += dt;
            for (uint32_t k = 0; k < mb.size; k++)
                r->tokens += (uint64_t)mb.tgt_len[k];
        }
    }
    r->dispatches /= (uint64_t)p->steps;
    r->barriers /= (uint64_t)p->steps;
    r->fills /= (uint64_t)p->steps;
    qsort(ms, (size_t)p->steps, sizeof(double), vknmt_bench_cmp_double);
    r->step_ms = ms[p->steps / 2];
    r->tokens_per_s = (double)r->tokens / wall;
    r->ok = true;
    goto free_model;

device_error:
    snprintf(r->error, sizeof(r->error), "%s: %s: %s", stage, vknmt_status_name(s), vknmt_context_errmsg(ctx));
free_model:
    r->peak_mb = (double)vknmt_context_memory_peak_bytes(ctx) / (1 << 20);
    free(ms);
    free(flat);
    vknmt_model_destroy(model);
    vknmt_batcher_destroy(batcher);
free_corpus:
    vknmt_corpus_destroy(corpus);
    return keep_going;
}

static void print_result(FILE *out, bool json, const vknmt_caps *caps, const preset_plan *p, const train_result *r)
{
    double ref = r->ref_measured ? r->ref_tokens_per_s : p->recorded_plain;
    double ratio = r->ok && isfinite(ref) ? r->tokens_per_s / ref : NAN;
    bool fits = r->ok && r->peak_mb * (1 << 20) <= (double)TWO_GIB;
    if (json) {
        fprintf(out, "{\"bench\":\"train\",\"device\":");
        vknmt_bench_json_string(out, caps->info.name);
        fprintf(out, ",\"driver\":");
        vknmt_bench_json_string(out, caps->info.driver_name);
        fprintf(out, ",\"driver_info\":");
        vknmt_bench_json_string(out, caps->info.driver_info);
        fprintf(out, ",\"preset\":\"%s\",\"batch\":%d,\"ok\":%s", p->name, TRAIN_BATCH, r->ok ? "true" : "false");
        if (!r->ok) {
            fprintf(out, ",\"error\":");
            vknmt_bench_json_string(out, r->error);
        }
        fprintf(out, ",\"warmup\":%d,\"steps\":%d,\"tokens\":%llu,\"tokens_per_s\":", p->warmup, p->steps,
                (unsigned long long)r->tokens);
        vknmt_bench_json_number(out, r->ok ? r->tokens_per_s : NAN, "%.1f");
        fprintf(out, ",\"step_ms\":");
        vknmt_bench_json_number(out, r->ok ? r->step_ms : NAN, "%.1f");
        fprintf(out, ",\"dispatches\":%llu,\"barriers\":%llu,\"fills\":%llu,\"peak_device_mb\":%.1f,\"fits_2gib\":%s",
                (unsigned long long)r->dispatches, (unsigned long long)r->barriers, (unsigned long long)r->fills,
                r->peak_mb, fits ? "true" : "false");
        fprintf(out, ",\"reference_tokens_per_s\":");
        vknmt_bench_json_number(out, ref, "%.1f");
        fprintf(out, ",\"reference\":\"%s\",\"ratio\":", r->ref_measured ? "measured" : "recorded");
        vknmt_bench_json_number(out, ratio, "%.4f");
        fprintf(out, "}\n");
    } else if (!r->ok) {
        fprintf(out, "%-6s %5d  FAILED: %s (device memory peak %.0f MiB)\n", p->name, TRAIN_BATCH, r->error,
                r->peak_mb);
    } else {
        char refs[96];
        if (r->ref_measured)
            snprintf(refs, sizeof(refs), "%8.0f measured", ref);
        else
            snprintf(refs, sizeof(refs), "%8.0f recorded", ref);
        fprintf(out, "%-6s %5d %9.0f %9.0f %10llu %9llu %9.0f %-4s %s %6.2fx\n", p->name, TRAIN_BATCH, r->tokens_per_s,
                r->step_ms, (unsigned long long)r->dispatches, (unsigned long long)r->barriers, r->peak_mb, fits ? "yes" : "NO", refs, ratio);
    }
    fflush(out);
}

/* Each preset after the first gets a fresh context on the same device, so
 * its memory peak is its own (a context keeps the blocks it has made); the
 * profile table of the context left behind is printed first. */
static bool fresh_context(vknmt_cli *cli)
{
    uint32_t index = vknmt_context_caps(cli->ctx)->info.index;
    vknmt_context_profile_report(cli->ctx, stderr);
    vknmt_context_destroy(cli->ctx);
    cli->ctx = NULL;
    vknmt_status s = vknmt_context_create(cli->inst, index, NULL, &cli->ctx);
    if (s != VKNMT_OK) {
        fprintf(stderr, "vknmt bench train: device %u: %s\n", index,
                cli->ctx ? vknmt_context_errmsg(cli->ctx) : vknmt_status_name(s));
        return false;
    }
    return true;
}

int vknmt_bench_train(vknmt_cli *cli, const vknmt_bench_train_options *o, FILE *out)
{
    const vknmt_caps *caps = vknmt_context_caps(cli->ctx);
    char shared[PATH_MAX] = "", src[PATH_MAX], tgt[PATH_MAX], data_dir[PATH_MAX], ref_dir[PATH_MAX + 8];
    bool have_shared = vknmt_bench_find_shared(shared, sizeof(shared));
    if (o->src)
        snprintf(src, sizeof(src), "%s", o->src);
    else
        snprintf(src, sizeof(src), "%s/data/bible-es-en/train.es", shared);
    if (o->tgt)
        snprintf(tgt, sizeof(tgt), "%s", o->tgt);
    else
        snprintf(tgt, sizeof(tgt), "%s/data/bible-es-en/train.en", shared);
    if (!vknmt_bench_is_file(src) || !vknmt_bench_is_file(tgt)) {
        fprintf(stderr,
                "vknmt bench train: corpus not found (%s, %s): set VKNMT_SHARED to the shared/ folder or give "
                "--src and --tgt\n",
                src, tgt);
        return 1;
    }
    snprintf(data_dir, sizeof(data_dir), "%s", src);
    char *slash = strrchr(data_dir, '/');
    if (slash)
        *slash = 0;
    else
        snprintf(data_dir, sizeof(data_dir), ".");
    snprintf(ref_dir, sizeof(ref_dir), "%s/ref", shared);
    if (o->reference && (!have_shared || !vknmt_bench_is_dir(ref_dir))) {
        fprintf(stderr, "vknmt bench train: --reference needs shared/ref (set VKNMT_SHARED)\n");
        return 1;
    }

    if (!o->json) {
        fprintf(out, "device: %s (%s %s)\n", caps->info.name, caps->info.driver_name, caps->info.driver_info);
        fprintf(out, "corpus: %s -> %s, max_len %d, batch %d, paper batching (seed %d)\n", src, tgt,
                TRAIN_MAX_LEN, TRAIN_BATCH, TRAIN_SEED);
        fprintf(out, "train step: forward + backward + clip 1 + Adadelta (rho 0.95, eps 1e-6), one submission\n");
        fprintf(out, "yardstick: shared/ref/bench_cpu.py --no-decode (PyTorch, 2 threads, plain), %s\n",
                o->reference ? "measured in this run" : "as recorded in shared/ref/README.md (another run)");
        fprintf(out, "%-6s %5s %9s %9s %10s %9s %9s %-4s %17s %7s\n", "preset", "batch", "tok/s", "step ms",
                "dispatch", "barriers", "peak MiB", "2GiB", "reference tok/s", "ratio");
    }
    int rc = 0, ran = 0;
    for (size_t i = 0; i < sizeof(plans) / sizeof(plans[0]); i++) {
        preset_plan p = plans[i];
        if (o->preset && strcmp(o->preset, "all") != 0 && strcmp(o->preset, p.name) != 0)
            continue;
        if (o->steps > 0)
            p.steps = o->steps;
        train_result r = {.ref_tokens_per_s = NAN};
        if (ran++ && !fresh_context(cli))
            return 1;
        caps = vknmt_context_caps(cli->ctx);
        if (!bench_preset(cli->ctx, &p, src, tgt, &r)) {
            fprintf(stderr, "vknmt bench train: %s: %s\n", p.name, r.error);
            return 1;
        }
        if (!r.ok) {
            fprintf(stderr, "vknmt bench train: %s: %s\n", p.name, r.error);
            rc = 1;
        }
        if (o->reference) {
            r.ref_tokens_per_s = run_reference(ref_dir, data_dir, &p);
            r.ref_measured = isfinite(r.ref_tokens_per_s);
            if (!r.ref_measured)
                rc = 1;
        }
        print_result(out, o->json, caps, &p, &r);
        if (!o->json && !r.ref_measured && r.ok)
            fprintf(out, "       (recorded elsewhere: reference %s %.0f tok/s plain, %.0f tuned --thp; ratio vs tuned "
                         "%.2fx)\n",
                    p.name, p.recorded_plain, p.recorded_tuned, r.ok ? r.tokens_per_s / p.recorded_tuned : NAN);
    }
    return rc;
}
