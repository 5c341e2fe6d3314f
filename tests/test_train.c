/* The train command end to end on a small synthetic corpus: exact resume,
 * checkpoints that survive a kill at any moment, bad input refused with a
 * line that names the file (and line). Runs the built vknmt binary. */
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "params.h"
#include "safetensors.h"
#include "train_files.h"

static char dir[64];

static int run(const char *args, char *err, size_t n) { return th_run_vknmt(dir, args, err, n); }

static bool setup(void) { return th_make_temp_dir(dir, sizeof(dir), "train") && th_write_reverse_corpus(dir, 300); }

static void cleanup(void) { th_remove_dir(dir); }

#define COMMON "train --preset tiny --batch 16 --quiet --src %s/train.src --tgt %s/train.tgt"

/* N steps, resume, N steps == 2N steps, bit for bit (Adadelta and Adam). */
static void test_resume_exact(th_env *env)
{
    (void)env;
    CHECK(setup(), "temporary corpus");
    char args[1024], err[4096], why[256] = "";
    static const char *opts[2] = {"", "--optimizer adam --lr 0.01"};
    for (int o = 0; o < 2 && !th_failed(); o++) {
        snprintf(args, sizeof(args), COMMON " %s --steps 8 --out %s/straight", dir, dir, opts[o], dir);
        CHECK(run(args, err, sizeof(err)) == 0, "straight run: %s", err);
        snprintf(args, sizeof(args), COMMON " %s --steps 4 --out %s/resumed", dir, dir, opts[o], dir);
        CHECK(run(args, err, sizeof(err)) == 0, "first half: %s", err);
        snprintf(args, sizeof(args), COMMON " %s --steps 8 --resume --out %s/resumed", dir, dir, opts[o], dir);
        CHECK(run(args, err, sizeof(err)) == 0, "resumed half: %s", err);
        char a[128], b[128];
        snprintf(a, sizeof(a), "%s/straight/train_state.safetensors", dir);
        snprintf(b, sizeof(b), "%s/resumed/train_state.safetensors", dir);
        CHECK(th_same_safetensors(a, b, why, sizeof(why)), "%s: resumed run differs from the straight one: %s",
              o ? "adam" : "adadelta", why);
        snprintf(args, sizeof(args), "rm -rf %s/straight %s/resumed", dir, dir);
        CHECK(system(args) == 0, "rm");
    }
    cleanup();
}

/* Killed at random moments, the folder always holds a checkpoint that
 * opens, and training resumes from it. */
static void test_kill_anytime(th_env *env)
{
    (void)env;
    CHECK(setup(), "temporary corpus");
    char args[1024], err[4096];
    snprintf(args, sizeof(args), COMMON " --steps 2 --out %s/k", dir, dir, dir);
    CHECK(run(args, err, sizeof(err)) == 0, "first run: %s", err);
    unsigned long long last_step = 0;
    for (int round = 0; round < 6; round++) {
        pid_t pid = fork();
        CHECK(pid >= 0, "fork");
        if (pid == 0) {
            char a2[1024];
            snprintf(a2, sizeof(a2), "exec %s " COMMON " --steps 100000 --save-every 1 --resume --out %s/k 2>/dev/null",
                     VKNMT_BIN, dir, dir, dir);
            execl("/bin/sh", "sh", "-c", a2, (char *)NULL);
            _exit(127);
        }
        /* Kill at a random moment after the next save began: in a step, in a
         * save, or between (waiting on a fixed delay flakes on slow builds). */
        char path0[128];
        snprintf(path0, sizeof(path0), "%s/k/train_state.safetensors", dir);
        struct stat st0, st1;
        bool have0 = stat(path0, &st0) == 0;
        for (int w = 0; w < 6000; w++) { /* up to 60 s */
            struct timespec poll = {0, 10 * 1000000L};
            nanosleep(&poll, NULL);
            if (stat(path0, &st1) == 0 && (!have0 || st1.st_mtim.tv_sec != st0.st_mtim.tv_sec ||
                                           st1.st_mtim.tv_nsec != st0.st_mtim.tv_nsec))
                break;
        }
        struct timespec ts = {0, (long)(th_rand_u64() % 400) * 1000000L};
        nanosleep(&ts, NULL);
        kill(pid, SIGKILL);
        int st;
        waitpid(pid, &st, 0);
        char path[128];
        snprintf(path, sizeof(path), "%s/k/train_state.safetensors", dir);
        vknmt_st *s = NULL;
        char e2[512];
        CHECK(vknmt_st_open(path, &s, e2, sizeof(e2)) == VKNMT_OK, "round %d: after a kill: %s", round, e2);
        const char *step = vknmt_st_metadata(s, "train.step");
        last_step = step ? strtoull(step, NULL, 10) : 0;
        vknmt_st_destroy(s);
    }
    /* the kills landed while it was training and saving, not before */
    CHECK(last_step >= 2 + 6, "only %llu steps were saved between the kills", (unsigned long long)last_step);
    snprintf(args, sizeof(args), COMMON " --steps 1 --resume --out %s/k", dir, dir, dir);
    int rc = run(args, err, sizeof(err));
    CHECK(rc == 0, "resume after kills: %s", err);
    cleanup();
}

static void test_bad_input(th_env *env)
{
    (void)env;
    CHECK(setup(), "temporary corpus");
    char args[1024], err[4096], path[128];
    /* a missing file */
    snprintf(args, sizeof(args), "train --src %s/nope.src --tgt %s/train.tgt --out %s/o", dir, dir, dir);
    CHECK(run(args, err, sizeof(err)) != 0 && strstr(err, "nope.src"), "missing file: %s", err);
    /* unequal line counts */
    snprintf(path, sizeof(path), "%s/short.tgt", dir);
    FILE *f = fopen(path, "w");
    CHECK(f, "write");
    fputs("a b\nc\n", f);
    fclose(f);
    snprintf(args, sizeof(args), "train --src %s/train.src --tgt %s/short.tgt --out %s/o", dir, dir, dir);
    CHECK(run(args, err, sizeof(err)) != 0 && strstr(err, "short.tgt"), "unequal lines: %s", err);
    /* invalid UTF-8 on line 3 */
    snprintf(path, sizeof(path), "%s/bad.src", dir);
    f = fopen(path, "w");
    CHECK(f, "write");
    fputs("uno\ndos\ntr\xc3\x28s\n", f);
    fclose(f);
    snprintf(path, sizeof(path), "%s/bad.tgt", dir);
    f = fopen(path, "w");
    CHECK(f, "write");
    fputs("one\ntwo\nthree\n", f);
    fclose(f);
    snprintf(args, sizeof(args), "train --src %s/bad.src --tgt %s/bad.tgt --out %s/o", dir, dir, dir);
    CHECK(run(args, err, sizeof(err)) != 0 && strstr(err, "bad.src:3"), "invalid UTF-8: %s", err);
    /* a corrupt checkpoint is refused, not loaded */
    snprintf(args, sizeof(args), COMMON " --steps 1 --out %s/c", dir, dir, dir);
    CHECK(run(args, err, sizeof(err)) == 0, "run: %s", err);
    snprintf(args, sizeof(args), "truncate -s 5000 %s/c/train_state.safetensors", dir);
    CHECK(system(args) == 0, "truncate");
    snprintf(args, sizeof(args), COMMON " --steps 2 --resume --out %s/c", dir, dir, dir);
    CHECK(run(args, err, sizeof(err)) != 0 && strstr(err, "train_state.safetensors"), "truncated checkpoint: %s",
          err);
    /* bad option values */
    snprintf(args, sizeof(args), COMMON " --steps many --out %s/c", dir, dir, dir);
    CHECK(run(args, err, sizeof(err)) == 2 && strstr(err, "--steps"), "bad --steps: %s", err);
    cleanup();
}

/* vknmt translate on a model vknmt train wrote: one output line per input
 * line in order, empty lines kept, a bad line named while the others are
 * translated, alignments in both formats. */
/* Words (runs of non-blanks) and lines of a text file (0 and 0 if unreadable). */
static void count_words(const char *path, int *words, int *lines)
{
    FILE *f = fopen(path, "r");
    int ch, prev = ' ';
    *words = *lines = 0;
    while (f && (ch = fgetc(f)) != EOF) {
        *words += ch != ' ' && ch != '\n' && (prev == ' ' || prev == '\n');
        *lines += ch == '\n';
        prev = ch;
    }
    if (f)
        fclose(f);
}

/* A copy of a model file whose out.b keeps <pad>, <s> and </s> (ids 0, 2,
 * 3) from ever winning: its translations are words up to their length
 * limit. */
static bool never_ending(const char *from, const char *to)
{
    vknmt_train_resume f = {0};
    char err[512];
    bool ok = vknmt_model_file_load(from, &f, err, sizeof(err)) == VKNMT_OK;
    const vknmt_param *b = ok ? vknmt_param_find(&f.lay, "out.b") : NULL;
    if (b)
        f.params[b->offset] = f.params[b->offset + 2] = f.params[b->offset + 3] = -1e4f;
    ok = b && vknmt_train_save_model(to, &f.meta, &f.lay, f.params, err, sizeof(err)) == VKNMT_OK;
    vknmt_train_resume_free(&f);
    return ok;
}

static void test_translate(th_env *env)
{
    (void)env;
    CHECK(setup(), "temporary corpus");
    char args[1024], err[4096], path[160];
    snprintf(args, sizeof(args), COMMON " --steps 3 --out %s/t", dir, dir, dir);
    CHECK(run(args, err, sizeof(err)) == 0, "train: %s", err);
    snprintf(path, sizeof(path), "%s/in.txt", dir);
    FILE *f = fopen(path, "w");
    CHECK(f, "write");
    fputs("w1 w2 w3\n\nw4 w5\nw\xc3\x28x\nw6\n", f);
    fclose(f);
    char out[160];
    snprintf(out, sizeof(out), "%s/out.txt", dir);
    snprintf(args, sizeof(args), "translate -m %s/t/model.safetensors -i %s -o %s --alignment hard", dir, path, out);
    CHECK(run(args, err, sizeof(err)) == 1 && strstr(err, "in.txt:4"), "bad line not named: %s", err);
    f = fopen(out, "r");
    CHECK(f, "no output");
    char line[4096];
    int n = 0;
    bool ok = true;
    while (fgets(line, sizeof(line), f)) {
        n++;
        bool empty_in = n == 2 || n == 4; /* the empty and the invalid line */
        char *bars = strstr(line, "|||");
        ok &= bars != NULL;
        if (bars && empty_in)
            ok &= bars == line || (bars == line + 1 && line[0] == ' ');
        /* every pair i-j names a source word (0..2 for line 1) */
        for (char *p = bars ? bars + 3 : line; ok && *p && *p != '\n';) {
            unsigned sw, tw;
            int used;
            if (sscanf(p, " %u-%u%n", &sw, &tw, &used) != 2)
                break;
            ok &= n != 1 || sw < 4;
            p += used;
        }
    }
    fclose(f);
    CHECK(n == 5 && ok, "%d output lines (5 expected), format ok %d", n, ok);
    /* soft alignment: JSON lines whose rows sum to 1 */
    snprintf(args, sizeof(args), "translate -m %s/t/model.safetensors -i %s -o %s --alignment soft", dir, path, out);
    run(args, err, sizeof(err));
    f = fopen(out, "r");
    CHECK(f && fgets(line, sizeof(line), f), "no soft output");
    fclose(f);
    CHECK(strstr(line, "\"alignment\":[[") && strstr(line, "\"source\":[\"w1\""), "soft alignment: %s", line);
    /* a missing model, or a file that is no model, is one clear line */
    snprintf(args, sizeof(args), "translate -m %s/none.safetensors -i %s", dir, path);
    CHECK(run(args, err, sizeof(err)) != 0 && strstr(err, "none.safetensors"), "missing model: %s", err);
    snprintf(args, sizeof(args), "translate -m %s -i %s", path, path);
    CHECK(run(args, err, sizeof(err)) != 0 && strstr(err, "in.txt"), "not a model: %s", err);
    /* an empty file: no output; a 500-word line: a bounded output */
    snprintf(path, sizeof(path), "%s/empty.txt", dir);
    f = fopen(path, "w");
    CHECK(f, "write");
    fclose(f);
    snprintf(args, sizeof(args), "translate -m %s/t/model.safetensors -i %s -o %s --beam 3", dir, path, out);
    CHECK(run(args, err, sizeof(err)) == 0, "empty input: %s", err);
    f = fopen(out, "r");
    CHECK(f && fgetc(f) == EOF, "output for an empty input");
    fclose(f);
    snprintf(path, sizeof(path), "%s/long.txt", dir);
    f = fopen(path, "w");
    CHECK(f, "write");
    for (int i = 0; i < 500; i++)
        fprintf(f, "w%d ", i % 30);
    fputc('\n', f);
    fclose(f);
    snprintf(args, sizeof(args), "translate -m %s/t/model.safetensors -i %s -o %s --beam 2", dir, path, out);
    CHECK(run(args, err, sizeof(err)) == 0, "500 words: %s", err);
    int words, lines;
    count_words(out, &words, &lines);
    CHECK(lines == 1 && words <= 2 * 501 + 10, "500 words: %d lines, %d words", lines, words);
    /* --max-len caps every output, greedy and beam: a model that never ends
     * a sentence writes the cap's words exactly (2 x 501 + 10 without it) */
    char endless[160];
    snprintf(endless, sizeof(endless), "%s/endless.safetensors", dir);
    snprintf(args, sizeof(args), "%s/t/model.safetensors", dir);
    CHECK(never_ending(args, endless), "a model that never emits </s>");
    for (int search = 0; search < 4 && !th_failed(); search++) {
        const char *how = search % 2 ? "--beam 3" : "--beam 1", *cap = search < 2 ? "" : " --max-len 7";
        snprintf(args, sizeof(args), "translate -m %s -i %s -o %s %s%s", endless, path, out, how, cap);
        CHECK(run(args, err, sizeof(err)) == 0, "%s: %s", args, err);
        count_words(out, &words, &lines);
        CHECK(lines == 1 && (*cap ? words == 7 : words > 7), "%s%s: %d lines, %d words", how, cap, lines, words);
    }
    snprintf(args, sizeof(args), "translate -m %s/t/model.safetensors -i %s --max-len 0", dir, path);
    CHECK(run(args, err, sizeof(err)) == 2 && strstr(err, "--max-len"), "--max-len 0: %s", err);
    cleanup();
}

/* Many lines of mixed lengths are decoded in batches sorted by length over
 * windows of several batches: the output keeps the input order and equals
 * decoding every line alone (--batch 1), greedy and beam. Alone is few rows,
 * which a CPU device runs with every dispatch inline (VKNMT_CLI_INLINE_ROWS),
 * batches on its worker threads: the same bits either way. */
static void test_translate_order(th_env *env)
{
    (void)env;
    CHECK(setup(), "temporary corpus");
    char args[1024], err[4096], in[160], a[160], b[160];
    snprintf(args, sizeof(args), COMMON " --steps 3 --out %s/t", dir, dir, dir);
    CHECK(run(args, err, sizeof(err)) == 0, "train: %s", err);
    snprintf(in, sizeof(in), "%s/in.txt", dir);
    snprintf(args, sizeof(args), "head -n 70 %s/train.src > %s && echo >> %s && head -n 3 %s/train.src >> %s", dir, in,
             in, dir, in);
    CHECK(system(args) == 0, "input");
    snprintf(a, sizeof(a), "%s/batched.txt", dir);
    snprintf(b, sizeof(b), "%s/alone.txt", dir);
    for (int beam = 1; beam <= 3 && !th_failed(); beam += 2) {
        snprintf(args, sizeof(args), "translate -m %s/t/model.safetensors -i %s -o %s --beam %d --batch 5 --scores",
                 dir, in, a, beam);
        CHECK(run(args, err, sizeof(err)) == 0, "batched: %s", err);
        snprintf(args, sizeof(args), "translate -m %s/t/model.safetensors -i %s -o %s --beam %d --batch 1 --scores",
                 dir, in, b, beam);
        CHECK(run(args, err, sizeof(err)) == 0, "alone: %s", err);
        char *x = th_read_file(a, NULL), *y = th_read_file(b, NULL);
        int lines = 0;
        for (const char *p = x; p && *p; p++)
            lines += *p == '\n';
        bool same = x && y && strcmp(x, y) == 0;
        free(x);
        free(y);
        CHECK(lines == 74, "beam %d: %d output lines for 74 input lines", beam, lines);
        CHECK(same, "beam %d: batches of 5 sorted by length differ from lines alone", beam);
    }
    cleanup();
}

/* vknmt eval: the paper's numbers as JSON and the BLEU-by-length plot. */
static void test_eval(th_env *env)
{
    (void)env;
    CHECK(setup(), "temporary corpus");
    char args[1024], err[4096];
    snprintf(args, sizeof(args), COMMON " --steps 2 --out %s/e", dir, dir, dir);
    CHECK(run(args, err, sizeof(err)) == 0, "train: %s", err);
    snprintf(args, sizeof(args),
             "eval -m %s/e/model.safetensors --src %s/train.src --ref %s/train.tgt --beam 2 --json --plot %s/p.png > "
             "%s/eval.json",
             dir, dir, dir, dir, dir);
    CHECK(run(args, err, sizeof(err)) == 0, "eval: %s", err);
    char path[160], line[4096] = "";
    snprintf(path, sizeof(path), "%s/eval.json", dir);
    FILE *f = fopen(path, "r");
    CHECK(f && fgets(line, sizeof(line), f), "no eval output");
    fclose(f);
    CHECK(strstr(line, "\"bleu\":") && strstr(line, "\"bleu_no_unk\":") && strstr(line, "\"bleu_by_length\":[") &&
              strstr(line, "\"sentences\":300"),
          "eval JSON: %s", line);
    snprintf(path, sizeof(path), "%s/p.png", dir);
    f = fopen(path, "rb");
    unsigned char sig[8] = {0};
    CHECK(f && fread(sig, 1, 8, f) == 8 && sig[1] == 'P' && sig[2] == 'N' && sig[3] == 'G', "no BLEU-by-length PNG");
    fclose(f);

    /* The model's saved translations, read back as a system of their own
     * (as Apertium's are), score exactly as the model did. */
    snprintf(args, sizeof(args),
             "eval -m %s/e/model.safetensors --label ours --save-hyp %s/e.hyp --hyp %s/e.hyp --label file "
             "--src %s/train.src --ref %s/train.tgt --beam 2 --json > %s/eval2.json",
             dir, dir, dir, dir, dir, dir);
    CHECK(run(args, err, sizeof(err)) == 0, "eval --hyp: %s", err);
    snprintf(path, sizeof(path), "%s/eval2.json", dir);
    char l2[4096] = "";
    f = fopen(path, "r");
    CHECK(f && fgets(line, sizeof(line), f) && fgets(l2, sizeof(l2), f), "eval --hyp: two JSON lines expected");
    fclose(f);
    CHECK(strstr(line, "\"system\":\"ours\"") && strstr(l2, "\"system\":\"file\""), "labels: %s / %s", line, l2);
    const char *keys[] = {"\"bleu\":", "\"bleu_no_unk\":", "\"no_unk_sentences\":", "\"bleu_by_length\":"};
    for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]); k++) {
        const char *a = strstr(line, keys[k]), *b = strstr(l2, keys[k]);
        CHECK(a && b, "no %s", keys[k]);
        size_t la = strcspn(a, ",]}"), lb = strcspn(b, ",]}");
        if (k == 3) { /* the whole array */
            la = strcspn(a, "]");
            lb = strcspn(b, "]");
        }
        CHECK(la == lb && !memcmp(a, b, la), "%s differs: %.*s vs %.*s", keys[k], (int)la, a, (int)lb, b);
    }
    /* A translation file of the wrong length is refused, naming it. */
    snprintf(args, sizeof(args), "eval --hyp %s/e/model.safetensors --src %s/train.src --ref %s/train.tgt", dir, dir, dir);
    CHECK(run(args, err, sizeof(err)) != 0 && strstr(err, "model.safetensors has"), "wrong line count: %s", err);
    cleanup();
}

/* The number after `key` in the first line of `path` that has it; NAN when none. */
static double number_after(const char *path, const char *key)
{
    FILE *f = fopen(path, "r");
    char line[4096];
    double v = NAN;
    while (f && isnan(v) && fgets(line, sizeof(line), f)) {
        const char *at = strstr(line, key);
        if (at)
            v = strtod(at + strlen(key), NULL);
    }
    if (f)
        fclose(f);
    return v;
}

/* --valid-bleu N: the BLEU printed at a validation is vknmt eval's greedy
 * BLEU of the same model on the same N dev sentences. Trained far enough
 * (Adam 0.01, 300 steps) that its BLEU is not 0: after 200 steps at 0.003
 * some corpora (the test seed's, after the earlier tests' draws) gave
 * hypotheses of at most one word, 0 both ways. */
static void test_valid_bleu(th_env *env)
{
    (void)env;
    CHECK(setup(), "temporary corpus");
    char args[1024], err[4096], path[160];
    snprintf(args, sizeof(args), COMMON " --steps 300 --valid-every 300 --optimizer adam --lr 0.01 --dev-src %s/train.src --dev-tgt %s/train.tgt "
             "--valid-bleu 40 --out %s/vb", dir, dir, dir, dir, dir);
    CHECK(run(args, err, sizeof(err)) == 0, "train --valid-bleu: %s", err);
    CHECK(strstr(err, "BLEU") && strstr(err, "(greedy, 40 sentences)"), "no BLEU in the validation line: %s", err);
    snprintf(path, sizeof(path), "%s/vb/metrics.jsonl", dir);
    double during = number_after(path, "\"dev_bleu\":");
    snprintf(args, sizeof(args), "head -n 40 %s/train.src > %s/d.src && head -n 40 %s/train.tgt > %s/d.tgt", dir, dir,
             dir, dir);
    CHECK(system(args) == 0, "%s", args);
    snprintf(args, sizeof(args), "eval -m %s/vb/model.safetensors --src %s/d.src --ref %s/d.tgt --beam 1 --json > %s/vb.json",
             dir, dir, dir, dir);
    CHECK(run(args, err, sizeof(err)) == 0, "eval: %s", err);
    snprintf(path, sizeof(path), "%s/vb.json", dir);
    double after = number_after(path, "\"bleu\":");
    CHECK(during > 0 && fabs(during - after) < 0.006, "dev BLEU while training %g, vknmt eval --beam 1 %g", during,
          after);
    /* without a dev set there is nothing to score */
    snprintf(args, sizeof(args), COMMON " --steps 1 --valid-bleu 5 --out %s/vb2", dir, dir, dir);
    CHECK(run(args, err, sizeof(err)) == 2 && strstr(err, "--valid-bleu"), "--valid-bleu without a dev set: %s", err);
    cleanup();
}

/* vknmt bench decode on a trained model of other sizes than the presets': a
 * line per beam and batch, each decoded, no reference figures ("none", not
 * the small preset's); the latency measured on the sentence nearest 25
 * words when none has 24-26; --reference refused up front (it builds only
 * the presets' models). */
static void test_bench_decode(th_env *env)
{
    (void)env;
    CHECK(setup(), "temporary corpus");
    char args[1024], err[4096], path[160];
    snprintf(args, sizeof(args), COMMON " --steps 2 --out %s/b", dir, dir, dir);
    CHECK(run(args, err, sizeof(err)) == 0, "train: %s", err);
    snprintf(args, sizeof(args), "bench decode --model %s/b/model.safetensors --test %s/train.src --sentences 3 --json > %s/b.json",
             dir, dir, dir);
    CHECK(run(args, err, sizeof(err)) == 0, "bench decode: %s", err);
    snprintf(path, sizeof(path), "%s/b.json", dir);
    FILE *f = fopen(path, "r");
    CHECK(f, "no bench output");
    char line[4096];
    int rows = 0, latencies = 0;
    while (fgets(line, sizeof(line), f)) {
        if (strstr(line, "\"bench\":\"decode\"")) {
            rows++;
            const char *wps = strstr(line, "\"words_per_s\":");
            CHECK(strstr(line, "\"ok\":true") && strstr(line, "\"reference\":\"none\"") &&
                      strstr(line, "\"reference_words_per_s\":null") && wps && atof(wps + 14) > 0,
                  "decode line: %s", line);
        } else if (strstr(line, "\"bench\":\"decode_latency\"")) {
            latencies++;
            const char *med = strstr(line, "\"median_ms\":");
            CHECK(med && atof(med + 12) > 0 && !strstr(line, "\"src_words\":0,"), "latency line: %s", line);
        }
    }
    fclose(f);
    /* 3 beams x 2 batches; 3 beams x worker threads and inline (a child run) where the device is a CPU */
    CHECK(rows == 6 && (latencies == 3 || latencies == 6), "%d decode lines, %d latency lines", rows, latencies);
    snprintf(args, sizeof(args), "bench decode --model %s/b/model.safetensors --test %s/train.src --sentences 3 --reference",
             dir, dir);
    CHECK(run(args, err, sizeof(err)) == 1 && (strstr(err, "neither the small nor the paper") || strstr(err, "shared/ref")),
          "--reference with a model of other sizes: %s", err);
    cleanup();
}

/* Numeric options are parsed strictly: a trailing letter, a sign, an empty
 * or out-of-range value is a usage error (2) naming the command, the option
 * and the value, before any file is opened (no silent 0, no wrapped count). */
static void test_option_values(th_env *env)
{
    (void)env;
    CHECK(th_make_temp_dir(dir, sizeof(dir), "opts"), "temporary folder");
    static const char *const cases[][2] = {
        {"translate -m none.safetensors --beam 5x", "translate: --beam expects a whole number 1 .. 16, not '5x'"},
        {"translate -m none.safetensors --beam 17", "--beam expects a whole number 1 .. 16, not '17'"},
        {"translate -m none.safetensors --batch -1", "--batch expects a whole number 1 .. 1000000, not '-1'"},
        {"translate -m none.safetensors --nbest ''", "--nbest expects a whole number 1 .. 16, not ''"},
        {"translate -m none.safetensors --length-penalty abc", "--length-penalty expects a number 0 .. 10, not 'abc'"},
        {"translate -m none.safetensors --max-len 1e3", "--max-len expects a whole number 1 .. 100000, not '1e3'"},
        {"eval -m none.safetensors --src a --ref b --beam 0", "eval: --beam expects a whole number 1 .. 16, not '0'"},
        {"align -m none.safetensors -i a --line 0", "align: --line expects a whole number 1 .. 4294967295, not '0'"},
        {"train --src a --tgt b --out c --lr x", "train: --lr expects a number 0 .. 1000, not 'x'"},
        {"train --src a --tgt b --out c --clip -1", "train: --clip expects a number"},
        {"train --src a --tgt b --out c --batch 5000000000", "--batch expects a whole number 1 .. 4294967295"},
        {"train --src a --tgt b --out c --n 0", "train: --n expects a whole number 1 .. 4294967295, not '0'"},
        {"train --src a --tgt b --out c --steps +3", "train: --steps expects a whole number, not '+3'"},
        {"bench decode --sentences 0", "bench: --sentences expects a whole number 1 .. 1000000, not '0'"},
    };
    for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]) && !th_failed(); k++) {
        char err[4096];
        int rc = run(cases[k][0], err, sizeof(err));
        CHECK(rc == 2 && strstr(err, cases[k][1]), "vknmt %s: rc %d, %s", cases[k][0], rc, err);
    }
    th_remove_dir(dir);
}

void th_register_train(void)
{
    th_add("train", "resume_exact", test_resume_exact);
    th_add("train", "kill_anytime", test_kill_anytime);
    th_add("train", "bad_input", test_bad_input);
    th_add("train", "translate", test_translate);
    th_add("train", "translate_order", test_translate_order);
    th_add("train", "eval", test_eval);
    th_add("train", "valid_bleu", test_valid_bleu);
    th_add("train", "bench_decode", test_bench_decode);
    th_add("train", "option_values", test_option_values);
}
