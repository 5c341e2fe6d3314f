/* vknmt train: trains RNNsearch (or RNNencdec) on a parallel corpus with a
 * live progress line, validation on a dev set, the best checkpoint kept,
 * early stopping, metrics as JSON lines, exact resume and a clean Ctrl-C. */
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "batcher.h"
#include "bpe.h"
#include "cli.h"
#include "corpus.h"
#include "dev_bleu.h"
#include "params.h"
#include "rnnsearch.h"
#include "train_files.h"

typedef struct train_args {
    const char *src, *tgt, *dev_src, *dev_tgt, *out, *preset;
    bool resume, lowercase, pretokenized, quiet;
    uint64_t steps;        /* 0: until time, patience or epochs end */
    double time_limit;     /* seconds, 0: none */
    uint64_t epochs;       /* 0: no limit */
    uint32_t batch, batch_tokens, max_len, src_vocab, tgt_vocab;
    uint32_t bpe;          /* merge operations, 0: words */
    uint32_t m, n, na, l;  /* 0: the preset's */
    const char *readout, *attention, *optimizer;
    float lr, clip;
    float dropout;         /* 0 <= P < 1 */
    bool dropout_given;
    uint64_t seed;
    uint64_t valid_every, save_every, patience, valid_bleu;
} train_args;

static volatile sig_atomic_t interrupted;
static void on_sigint(int sig)
{
    (void)sig;
    interrupted = 1;
}

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* "20m", "90s", "1.5h", "300" (seconds). */
static bool parse_duration(const char *s, double *out)
{
    char *end;
    double v = strtod(s, &end);
    if (end == s || v < 0)
        return false;
    double unit = *end == 'h' ? 3600 : *end == 'm' ? 60 : 1;
    if (*end && (end[1] || !strchr("hms", *end)))
        return false;
    *out = v * unit;
    return true;
}

/* --dropout P: a probability 0 <= P < 1. */
static bool parse_dropout(const char *v, float *out)
{
    char *end;
    errno = 0;
    double x = strtod(v, &end);
    if (errno || end == v || *end || !(x >= 0 && x < 1) || (float)x >= 1.0f)
        return false;
    *out = (float)x;
    return true;
}

static void usage(void)
{
    fprintf(stderr,
            "usage: vknmt train --src F --tgt F --out DIR [options]\n"
            "  --dev-src F --dev-tgt F   validation pairs (dev cross-entropy, best checkpoint, patience)\n"
            "  --preset tiny|small|paper model sizes (default small); --m --n --na --l override them\n"
            "  --readout maxout|linear   --attention additive|none (none: the RNNencdec baseline)\n"
            "  --src-vocab K --tgt-vocab K  vocabulary sizes with the 4 specials (default: the preset's)\n"
            "  --bpe N                   subword units: learn N BPE merges on both sides (Sennrich et al. 2016);\n"
            "                            the vocabularies then count units, the merges go into the checkpoints\n"
            "  --steps N | --time-limit 20m | --epochs E   when to stop (also on patience); the time and\n"
            "                            steps count the whole run, resumes included\n"
            "  --batch 80 | --batch-tokens N   sentences per minibatch, or a token budget\n"
            "  --max-len 50              pairs longer than this are skipped\n"
            "  --optimizer adadelta|adam --lr X --clip 1   (adadelta: the paper, rho 0.95, eps 1e-6)\n"
            "  --dropout P               inverted dropout on the deep output t_i while training (0 <= P < 1;\n"
            "                            default 0, the paper); with --readout linear on [s_i; c_i; E y_{i-1}]\n"
            "  --valid-every N (500) --save-every N (500) --patience P (10 validations); 0 turns each off,\n"
            "                            as --steps 0 or --epochs 0 sets no limit\n"
            "  --valid-bleu N            also BLEU of greedy translations of the first N dev sentences\n"
            "  --lowercase --pretokenized --seed S --quiet\n"
            "  --resume                  continue exactly from DIR/train_state.safetensors\n");
}

static int parse(int argc, char **argv, train_args *a)
{
    *a = (train_args){.preset = "small", .batch = 80, .max_len = 50, .lr = 0, .clip = 1, .seed = 1,
                      .valid_every = 500, .save_every = 500, .patience = 10};
    for (int i = 1; i < argc; i++) {
        const char *o = argv[i];
#define VAL vknmt_cli_value(argc, argv, &i)
#define U64 vknmt_cli_count("train", o, VAL, 0, UINT64_MAX) /* limits and periods: 0 is none */
#define U32 (uint32_t)vknmt_cli_count("train", o, VAL, 1, UINT32_MAX) /* sizes and counts: 0 is no size */
        if (!strcmp(o, "--src")) a->src = VAL;
        else if (!strcmp(o, "--tgt")) a->tgt = VAL;
        else if (!strcmp(o, "--dev-src")) a->dev_src = VAL;
        else if (!strcmp(o, "--dev-tgt")) a->dev_tgt = VAL;
        else if (!strcmp(o, "--out")) a->out = VAL;
        else if (!strcmp(o, "--preset")) a->preset = VAL;
        else if (!strcmp(o, "--readout")) a->readout = VAL;
        else if (!strcmp(o, "--attention")) a->attention = VAL;
        else if (!strcmp(o, "--optimizer")) a->optimizer = VAL;
        else if (!strcmp(o, "--resume")) a->resume = true;
        else if (!strcmp(o, "--lowercase")) a->lowercase = true;
        else if (!strcmp(o, "--pretokenized")) a->pretokenized = true;
        else if (!strcmp(o, "--quiet")) a->quiet = true;
        else if (!strcmp(o, "--steps")) a->steps = U64;
        else if (!strcmp(o, "--epochs")) a->epochs = U64;
        else if (!strcmp(o, "--batch")) a->batch = U32;
        else if (!strcmp(o, "--batch-tokens")) a->batch_tokens = U32;
        else if (!strcmp(o, "--max-len")) a->max_len = U32;
        else if (!strcmp(o, "--src-vocab")) a->src_vocab = U32;
        else if (!strcmp(o, "--tgt-vocab")) a->tgt_vocab = U32;
        else if (!strcmp(o, "--m")) a->m = U32;
        else if (!strcmp(o, "--n")) a->n = U32;
        else if (!strcmp(o, "--na")) a->na = U32;
        else if (!strcmp(o, "--l")) a->l = U32;
        else if (!strcmp(o, "--seed")) a->seed = U64; /* any */
        else if (!strcmp(o, "--valid-every")) a->valid_every = U64;
        else if (!strcmp(o, "--valid-bleu")) a->valid_bleu = U64;
        else if (!strcmp(o, "--save-every")) a->save_every = U64;
        else if (!strcmp(o, "--patience")) a->patience = U64;
        else if (!strcmp(o, "--lr")) a->lr = (float)vknmt_cli_real("train", o, VAL, 0, 1000); /* 0: the default */
        else if (!strcmp(o, "--clip")) a->clip = (float)vknmt_cli_real("train", o, VAL, 0, 1e30); /* 0: none */
        else if (!strcmp(o, "--dropout")) {
            const char *v = VAL;
            if (!parse_dropout(v, &a->dropout)) {
                fprintf(stderr, "vknmt train: --dropout expects a probability 0 <= P < 1 (e.g. 0.3), not '%s'\n", v);
                return 2;
            }
            a->dropout_given = true;
        } else if (!strcmp(o, "--bpe")) /* merge operations, e.g. 8000 */
            a->bpe = U32;
        else if (!strcmp(o, "--time-limit")) {
            const char *v = VAL;
            if (!parse_duration(v, &a->time_limit)) {
                fprintf(stderr, "vknmt train: --time-limit expects e.g. 20m, 90s, 1.5h, not '%s'\n", v);
                return 2;
            }
        } else if (!strcmp(o, "-h") || !strcmp(o, "--help")) {
            usage();
            exit(0);
        } else {
            fprintf(stderr, "vknmt train: unknown argument %s\n", o);
            usage();
            return 2;
        }
#undef VAL
#undef U64
#undef U32
    }
    if (!a->out || (!a->resume && (!a->src || !a->tgt))) {
        usage();
        return 2;
    }
    if (!a->resume && !a->src) {
        usage();
        return 2;
    }
    if (!!a->dev_src != !!a->dev_tgt) {
        fprintf(stderr, "vknmt train: --dev-src and --dev-tgt go together\n");
        return 2;
    }
    if (a->valid_bleu && (!a->dev_src || a->valid_bleu > UINT32_MAX)) {
        fprintf(stderr, "vknmt train: --valid-bleu N needs --dev-src and --dev-tgt (and N < 2^32)\n");
        return 2;
    }
    return 0;
}

static int config_from_args(const train_args *a, vknmt_model_config *c)
{
    if (vknmt_config_preset(a->preset, c)) {
        fprintf(stderr, "vknmt train: unknown preset '%s' (tiny, small, paper)\n", a->preset);
        return 2;
    }
    if (a->src_vocab) c->vs = a->src_vocab;
    if (a->tgt_vocab) c->vt = a->tgt_vocab;
    if (a->m) c->m = a->m;
    if (a->n) c->n = a->n;
    if (a->na) c->na = a->na;
    if (a->l) c->l = a->l;
    if (a->readout) {
        if (strcmp(a->readout, "maxout") && strcmp(a->readout, "linear")) {
            fprintf(stderr, "vknmt train: --readout is maxout or linear\n");
            return 2;
        }
        c->readout = strcmp(a->readout, "linear") ? VKNMT_READOUT_MAXOUT : VKNMT_READOUT_LINEAR;
    }
    if (a->attention) {
        if (strcmp(a->attention, "additive") && strcmp(a->attention, "none")) {
            fprintf(stderr, "vknmt train: --attention is additive or none\n");
            return 2;
        }
        c->attention = strcmp(a->attention, "none") ? VKNMT_ATTENTION_ADDITIVE : VKNMT_ATTENTION_NONE;
    }
    char err[256];
    if (vknmt_config_check(c, err, sizeof(err))) {
        fprintf(stderr, "vknmt train: %s\n", err);
        return 2;
    }
    return 0;
}

/* Dev cross-entropy per target token, forward passes only. */
static vknmt_status dev_ce(vknmt_model *model, const vknmt_corpus *dev, double *ce)
{
    vknmt_batcher_options bo = {.batch_size = 80, .no_shuffle = true, .sort_k_batches = 1};
    vknmt_batcher *b = NULL;
    char err[256];
    vknmt_status s = vknmt_batcher_create(dev, &bo, &b, err, sizeof(err));
    double nll = 0, tokens = 0;
    vknmt_minibatch mb;
    /* one pass: the batcher starts epoch 1 when the corpus is used up */
    while (!s && (s = vknmt_batcher_next(b, &mb)) == VKNMT_OK && mb.epoch == 0) {
        vknmt_batch batch = {mb.size, mb.src_T, mb.tgt_T, mb.src, mb.src_len, mb.tgt, mb.tgt_len};
        vknmt_loss l;
        if ((s = vknmt_model_loss(model, &batch, false, &l)))
            break;
        nll += l.loss * mb.size;
        tokens += l.ntok;
    }
    vknmt_batcher_destroy(b);
    *ce = tokens > 0 ? nll / tokens : NAN;
    return s;
}

static void path_in(char *out, size_t n, const char *dir, const char *file) { snprintf(out, n, "%s/%s", dir, file); }

static void fmt_time(double s, char *out, size_t n)
{
    if (!isfinite(s) || s < 0)
        snprintf(out, n, "--:--");
    else if (s >= 3600)
        snprintf(out, n, "%dh%02dm", (int)(s / 3600), (int)(fmod(s, 3600) / 60));
    else
        snprintf(out, n, "%dm%02ds", (int)(s / 60), (int)fmod(s, 60));
}

typedef struct trainer {
    train_args a;
    vknmt_cli *cli;
    vknmt_train_meta meta;
    vknmt_vocab *own_src_vocab, *own_tgt_vocab;
    vknmt_bpe *bpe; /* owned: the merges, or NULL */
    vknmt_corpus *train, *dev;
    vknmt_dev_bleu *dev_bleu; /* --valid-bleu, else NULL */
    vknmt_batcher *batcher;
    vknmt_model *model;
    vknmt_train_options opt;
    vknmt_train_progress prog;
    float *host_params, *host_s1, *host_s2;
    FILE *metrics;
} trainer;

static int save_all(trainer *t, bool best)
{
    char path[1100], err[1024];
    const vknmt_param_layout *lay = vknmt_model_layout(t->model);
    vknmt_batcher_get_state(t->batcher, &t->prog.data);
    t->prog.updates = vknmt_model_updates(t->model);
    if (vknmt_model_params_download(t->model, t->host_params) ||
        vknmt_model_optim_download(t->model, t->host_s1, t->host_s2)) {
        fprintf(stderr, "\nvknmt train: reading the model back: %s\n", vknmt_context_errmsg(t->cli->ctx));
        return 1;
    }
    path_in(path, sizeof(path), t->a.out, "train_state.safetensors");
    if (vknmt_train_save_state(path, &t->meta, lay, t->host_params, t->host_s1, t->host_s2, &t->prog, err,
                               sizeof(err))) {
        fprintf(stderr, "\nvknmt train: %s\n", err);
        return 1;
    }
    path_in(path, sizeof(path), t->a.out, "model.safetensors");
    if (vknmt_train_save_model(path, &t->meta, lay, t->host_params, err, sizeof(err)) ||
        (best && (path_in(path, sizeof(path), t->a.out, "best.safetensors"),
                  vknmt_train_save_model(path, &t->meta, lay, t->host_params, err, sizeof(err))))) {
        fprintf(stderr, "\nvknmt train: %s\n", err);
        return 1;
    }
    return 0;
}

static int setup(trainer *t)
{
    char err[1024], path[1100];
    train_args *a = &t->a;
    if (mkdir(a->out, 0755) != 0 && errno != EEXIST) {
        fprintf(stderr, "vknmt train: cannot create %s: %s\n", a->out, strerror(errno));
        return 1;
    }
    vknmt_train_resume r = {0};
    path_in(path, sizeof(path), a->out, "train_state.safetensors");
    if (a->resume) {
        if (vknmt_train_load_state(path, &r, err, sizeof(err))) {
            fprintf(stderr, "vknmt train: %s\n", err);
            return 1;
        }
        /* Another P would change the masks of the steps to come: a resumed
         * run would no longer be the run it continues. */
        if (a->dropout_given && a->dropout != r.prog.dropout) {
            fprintf(stderr, "vknmt train: %s was trained with --dropout %g, not %g: resume with the same value\n",
                    path, (double)r.prog.dropout, (double)a->dropout);
            vknmt_train_resume_free(&r);
            return 2;
        }
        t->meta = r.meta;
        t->own_src_vocab = r.src_vocab;
        t->own_tgt_vocab = r.tgt_vocab;
        t->bpe = r.bpe; /* the state's merges, never relearned: --bpe is ignored */
        r.bpe = NULL;
        t->prog = r.prog;
        a->lowercase = r.meta.lowercase;
        a->pretokenized = r.meta.pretokenized;
        a->max_len = r.meta.max_len;
        a->seed = r.prog.data.seed;
        a->dropout = r.prog.dropout;
    } else if (config_from_args(a, &t->meta.cfg)) {
        return 2;
    }
    if (!a->src || !a->tgt) {
        fprintf(stderr, "vknmt train: --resume still needs --src and --tgt (the same files)\n");
        vknmt_train_resume_free(&r);
        return 2;
    }
    if (!a->resume && a->bpe) {
        const char *paths[2] = {a->src, a->tgt};
        vknmt_tokenize_options to = {a->lowercase, a->pretokenized};
        double t0 = now();
        if (vknmt_bpe_learn_files(paths, 2, &to, a->bpe, &t->bpe, err, sizeof(err))) {
            fprintf(stderr, "vknmt train: learning BPE merges: %s\n", err);
            return 1;
        }
        if (!a->quiet)
            fprintf(stderr, "bpe: %u merge operations learned on both sides in %.2f s\n",
                    vknmt_bpe_merge_count(t->bpe), now() - t0);
    }
    vknmt_corpus_options co = {.tok = {a->lowercase, a->pretokenized}, .max_len = a->max_len,
                               .src_vocab = t->own_src_vocab, .tgt_vocab = t->own_tgt_vocab,
                               .src_vocab_size = t->meta.cfg.vs, .tgt_vocab_size = t->meta.cfg.vt,
                               .bpe = t->bpe};
    if (vknmt_corpus_load(a->src, a->tgt, &co, &t->train, err, sizeof(err))) {
        fprintf(stderr, "vknmt train: %s\n", err);
        vknmt_train_resume_free(&r);
        return 1;
    }
    const vknmt_corpus_stats *cs = vknmt_corpus_stats_get(t->train);
    t->meta.src_vocab = vknmt_corpus_src_vocab(t->train);
    t->meta.tgt_vocab = vknmt_corpus_tgt_vocab(t->train);
    /* A small corpus may have fewer words than asked for: the model follows. */
    t->meta.cfg.vs = vknmt_vocab_size(t->meta.src_vocab);
    t->meta.cfg.vt = vknmt_vocab_size(t->meta.tgt_vocab);
    t->meta.lowercase = a->lowercase;
    t->meta.pretokenized = a->pretokenized;
    t->meta.max_len = a->max_len;
    t->meta.bpe = t->bpe;
    if (!a->quiet)
        fprintf(stderr,
                "corpus: %llu pairs kept of %llu lines (%llu empty, %llu longer than %u skipped); vocabularies "
                "%u / %u%s\n",
                (unsigned long long)cs->pairs, (unsigned long long)cs->lines, (unsigned long long)cs->skipped_empty,
                (unsigned long long)cs->skipped_long, a->max_len, t->meta.cfg.vs, t->meta.cfg.vt,
                t->bpe ? " subword units" : "");
    if (a->dev_src) {
        vknmt_corpus_options dco = co;
        dco.src_vocab = t->meta.src_vocab;
        dco.tgt_vocab = t->meta.tgt_vocab;
        dco.max_len = 0;
        if (vknmt_corpus_load(a->dev_src, a->dev_tgt, &dco, &t->dev, err, sizeof(err)) ||
            (a->valid_bleu && vknmt_dev_bleu_create(a->dev_src, a->dev_tgt, (uint32_t)a->valid_bleu, &t->meta, t->bpe,
                                                    &t->dev_bleu, err, sizeof(err)))) {
            fprintf(stderr, "vknmt train: %s\n", err);
            vknmt_train_resume_free(&r);
            return 1;
        }
    }
    vknmt_batcher_options bo = {.batch_size = a->batch_tokens ? 0 : a->batch, .max_tokens = a->batch_tokens,
                                .seed = a->seed};
    if (vknmt_batcher_create(t->train, &bo, &t->batcher, err, sizeof(err)) ||
        (a->resume && vknmt_batcher_set_state(t->batcher, &r.prog.data, err, sizeof(err)))) {
        fprintf(stderr, "vknmt train: %s\n", err);
        vknmt_train_resume_free(&r);
        return 1;
    }
    if (!vknmt_cli_open(t->cli)) {
        vknmt_train_resume_free(&r);
        return 1;
    }
    vknmt_status s = vknmt_model_create(t->cli->ctx, &t->meta.cfg, &t->model);
    const vknmt_param_layout *lay = s ? NULL : vknmt_model_layout(t->model);
    if (!s) {
        t->host_params = malloc(lay->total * 4);
        t->host_s1 = malloc(lay->total * 4);
        t->host_s2 = malloc(lay->total * 4);
        if (!t->host_params || !t->host_s1 || !t->host_s2)
            s = VKNMT_ERR_OOM_HOST;
    }
    if (!s && a->resume) {
        s = vknmt_model_params_upload(t->model, r.params);
        if (!s)
            s = vknmt_model_optim_upload(t->model, r.state1, r.state2, r.prog.updates);
    } else if (!s) {
        vknmt_params_init(lay, a->seed, t->host_params);
        s = vknmt_model_params_upload(t->model, t->host_params);
        t->prog.best_dev = INFINITY;
        t->prog.data.seed = a->seed;
        t->prog.dropout = a->dropout;
    }
    /* the resume struct lent its vocabularies to t->own_*; free the rest */
    r.src_vocab = r.tgt_vocab = NULL;
    vknmt_train_resume_free(&r);
    if (s) {
        fprintf(stderr, "vknmt train: %s\n", vknmt_context_errmsg(t->cli->ctx));
        return 1;
    }
    t->opt = vknmt_train_defaults();
    if (a->optimizer && !strcmp(a->optimizer, "adam")) {
        t->opt.optimizer = VKNMT_ADAM;
        t->opt.lr = a->lr > 0 ? a->lr : 1e-3f;
    } else if (a->optimizer && strcmp(a->optimizer, "adadelta")) {
        fprintf(stderr, "vknmt train: --optimizer is adadelta or adam\n");
        return 2;
    }
    t->opt.clip = a->clip;
    t->opt.dropout = a->dropout;
    t->opt.dropout_seed = (uint32_t)(a->seed ^ (a->seed >> 32));
    if (!a->quiet)
        fprintf(stderr, "training: %s, clip %g, dropout %g%s\n", t->opt.optimizer == VKNMT_ADAM ? "adam" : "adadelta",
                (double)t->opt.clip, (double)t->opt.dropout,
                t->opt.dropout > 0 ? (t->meta.cfg.readout == VKNMT_READOUT_MAXOUT ? " on the deep output t_i"
                                                                                   : " on the readout input [s; c; E y]")
                                   : " (none, the paper)");
    path_in(path, sizeof(path), a->out, "metrics.jsonl");
    t->metrics = fopen(path, "a");
    if (!t->metrics) {
        fprintf(stderr, "vknmt train: cannot write %s: %s\n", path, strerror(errno));
        return 1;
    }
    return 0;
}

static void teardown(trainer *t)
{
    if (t->metrics)
        fclose(t->metrics);
    vknmt_model_destroy(t->model);
    vknmt_batcher_destroy(t->batcher);
    vknmt_corpus_destroy(t->train);
    vknmt_corpus_destroy(t->dev);
    vknmt_dev_bleu_destroy(t->dev_bleu);
    vknmt_vocab_destroy(t->own_src_vocab);
    vknmt_vocab_destroy(t->own_tgt_vocab);
    vknmt_bpe_destroy(t->bpe);
    free(t->host_params);
    free(t->host_s1);
    free(t->host_s2);
}

int vknmt_cmd_train(vknmt_cli *cli, int argc, char **argv)
{
    trainer t = {.cli = cli};
    int rc = parse(argc, argv, &t.a);
    if (rc || (rc = setup(&t))) {
        teardown(&t);
        return rc;
    }
    train_args *a = &t.a;
    signal(SIGINT, on_sigint);
    signal(SIGTERM, on_sigint);
    bool tty = isatty(STDERR_FILENO) && !a->quiet;
    double start = now() - t.prog.elapsed, window_t = now();
    uint64_t window_tokens = 0, window_steps = 0, first_step = t.prog.step;
    double window_loss = 0;
    const char *why = "done";
    while (!interrupted) {
        if (a->steps && t.prog.step >= a->steps) {
            why = "step limit";
            break;
        }
        if (a->time_limit && now() - start >= a->time_limit) {
            why = "time limit";
            break;
        }
        vknmt_minibatch mb;
        if (vknmt_batcher_next(t.batcher, &mb)) {
            fprintf(stderr, "\nvknmt train: the batcher failed\n");
            rc = 1;
            break;
        }
        if (a->epochs && mb.epoch >= a->epochs) {
            why = "epoch limit";
            break;
        }
        vknmt_batch batch = {mb.size, mb.src_T, mb.tgt_T, mb.src, mb.src_len, mb.tgt, mb.tgt_len};
        vknmt_step_result r;
        if (vknmt_model_train_step(t.model, &batch, &t.opt, &r)) {
            fprintf(stderr, "\nvknmt train: step %llu: %s\n", (unsigned long long)t.prog.step + 1,
                    vknmt_context_errmsg(cli->ctx));
            rc = 1;
            break;
        }
        t.prog.step++;
        t.prog.tokens += r.loss.ntok;
        t.prog.elapsed = now() - start;
        window_tokens += r.loss.ntok;
        window_loss += r.loss.loss * mb.size;
        window_steps++;
        double wt = now() - window_t;
        double tps = wt > 0 ? window_tokens / wt : 0;
        double ce = window_tokens ? window_loss / window_tokens : NAN;
        if (!a->quiet && (tty || t.prog.step % 50 == 0 || t.prog.step == first_step + 1)) {
            double left = a->steps ? (a->steps - t.prog.step) * (wt / window_steps)
                        : a->time_limit ? a->time_limit - t.prog.elapsed : NAN;
            char eta[32];
            fmt_time(left, eta, sizeof(eta));
            fprintf(stderr, "%sstep %llu  epoch %llu  loss/token %.3f  ppl %.1f  %.0f tok/s  ETA %s  mem %.0f MiB%s%s",
                    tty ? "\r\033[K" : "", (unsigned long long)t.prog.step, (unsigned long long)mb.epoch + 1, ce,
                    exp(ce), tps, eta, vknmt_context_memory_bytes(cli->ctx) / 1048576.0, r.skipped ? "  (skipped)" : "",
                    tty ? "" : "\n");
        }
        if (t.prog.step % 50 == 0) {
            fprintf(t.metrics,
                    "{\"step\":%llu,\"epoch\":%llu,\"train_ce\":%.6f,\"tokens_per_s\":%.1f,\"grad_norm\":%.4f,"
                    "\"time_s\":%.1f}\n",
                    (unsigned long long)t.prog.step, (unsigned long long)mb.epoch + 1, ce, tps, r.grad_norm,
                    t.prog.elapsed);
            fflush(t.metrics);
            window_t = now();
            window_tokens = 0;
            window_loss = 0;
            window_steps = 0;
        }
        bool best = false;
        if (t.dev && a->valid_every && t.prog.step % a->valid_every == 0) {
            double dce;
            if (dev_ce(t.model, t.dev, &dce)) {
                fprintf(stderr, "\nvknmt train: validation: %s\n", vknmt_context_errmsg(cli->ctx));
                rc = 1;
                break;
            }
            double bleu = NAN;
            if (t.dev_bleu && vknmt_dev_bleu_score(t.dev_bleu, t.model, &bleu)) {
                fprintf(stderr, "\nvknmt train: validation BLEU: %s\n", vknmt_context_errmsg(cli->ctx));
                rc = 1;
                break;
            }
            char bleu_text[96] = "", bleu_json[32] = "";
            if (t.dev_bleu) {
                snprintf(bleu_text, sizeof(bleu_text), ", BLEU %.2f (greedy, %u sentences)", bleu,
                         vknmt_dev_bleu_lines(t.dev_bleu));
                snprintf(bleu_json, sizeof(bleu_json), isnan(bleu) ? ",\"dev_bleu\":null" : ",\"dev_bleu\":%.2f", bleu);
            }
            best = dce < t.prog.best_dev;
            if (best) {
                t.prog.best_dev = dce;
                t.prog.bad_validations = 0;
            } else {
                t.prog.bad_validations++;
            }
            fprintf(stderr, "%svalidation at step %llu: dev loss/token %.4f (ppl %.2f)%s%s\n", tty ? "\r\033[K" : "",
                    (unsigned long long)t.prog.step, dce, exp(dce), bleu_text, best ? "  best so far, saved" : "");
            fprintf(t.metrics, "{\"step\":%llu,\"dev_ce\":%.6f%s,\"best\":%s,\"time_s\":%.1f}\n",
                    (unsigned long long)t.prog.step, dce, bleu_json, best ? "true" : "false", t.prog.elapsed);
            fflush(t.metrics);
        }
        if (best || (a->save_every && t.prog.step % a->save_every == 0)) {
            if ((rc = save_all(&t, best)))
                break;
        }
        if (t.dev && a->patience && t.prog.bad_validations >= a->patience) {
            why = "patience: no better dev loss";
            break;
        }
    }
    if (interrupted)
        why = "interrupted";
    if (!rc)
        rc = save_all(&t, !t.dev);
    if (!a->quiet || rc)
        fprintf(stderr, "%s%s after step %llu (%.0f s); %s; device memory peak %.0f MiB; checkpoint in %s\n",
                tty ? "\r\033[K" : "", why, (unsigned long long)t.prog.step, t.prog.elapsed,
                rc ? "NOT saved" : "saved", vknmt_context_memory_peak_bytes(cli->ctx) / 1048576.0, a->out);
    teardown(&t);
    return rc;
}
