/* The PyTorch reference's decoding figures (see decode_reference.h). */
#include "decode_reference.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void vknmt_ref_decode_run(const char *ref_dir, const char *data_dir, const char *preset, int n, int batch, bool tuned,
                          vknmt_ref_decode *r)
{
    for (int i = 0; i < 4; i++)
        r->sent[i] = r->steps[i] = NAN;
    r->ok = false;
    char cmd[PATH_MAX * 2 + 512];
    snprintf(cmd, sizeof(cmd),
             "cd '%s' && /usr/bin/python3 bench_cpu.py --preset %s --no-train %s --decode-n %d "
             "--decode-batch %d --data '%s' 2>&1",
             ref_dir, preset, tuned ? "--thp --threads 1" : "--threads 2", n, batch, data_dir);
    fprintf(stderr, "reference: %s\n", cmd);
    FILE *pipe = popen(cmd, "r");
    if (!pipe) {
        fprintf(stderr, "reference: cannot start: %s\n", strerror(errno));
        return;
    }
    char line[1024], greedy_b[64];
    snprintf(greedy_b, sizeof(greedy_b), "greedy batch %d", batch);
    const char *names[4] = {"greedy batch 1", greedy_b, "beam 5 batch 1", "beam 12 batch 1"};
    while (fgets(line, sizeof(line), pipe)) {
        fprintf(stderr, "  ref| %s", line);
        const char *m = strstr(line, "DECODE ");
        if (!m)
            continue;
        m += 7;
        for (int i = 0; i < 4; i++) {
            size_t len = strlen(names[i]);
            if (strncmp(m, names[i], len) == 0 && m[len] == ' ') {
                double sps, stps;
                if (sscanf(m + len, " %lf sent/s (%lf", &sps, &stps) == 2) {
                    r->sent[i] = sps;
                    r->steps[i] = stps;
                }
            }
        }
    }
    int st = pclose(pipe);
    if (st != 0)
        fprintf(stderr, "reference: exited with status %d\n", st);
    r->ok = st == 0 && isfinite(r->sent[0]) && isfinite(r->sent[2]) && isfinite(r->sent[3]);
}

void vknmt_ref_decode_best(vknmt_ref_decode *best, const vknmt_ref_decode *other)
{
    for (int i = 0; i < 4; i++)
        if (!isfinite(best->sent[i]) || other->sent[i] > best->sent[i]) {
            best->sent[i] = other->sent[i];
            best->steps[i] = other->steps[i];
        }
    best->ok = best->ok && other->ok;
}

static bool write_lines(const char *path, const char *const *lines, uint32_t n)
{
    FILE *f = fopen(path, "w");
    bool ok = f != NULL;
    for (uint32_t i = 0; ok && i < n; i++)
        ok = fputs(lines[i], f) >= 0 && fputc('\n', f) != EOF;
    if (f && fclose(f) != 0)
        ok = false;
    if (!ok)
        fprintf(stderr, "reference: cannot write %s: %s\n", path, strerror(errno));
    return ok;
}

bool vknmt_ref_data_create(char *dir, size_t cap, const char *const *src, const char *const *tgt, uint32_t n)
{
    const char *tmp = getenv("TMPDIR");
    char path[PATH_MAX];
    if ((size_t)snprintf(dir, cap, "%s/vknmt-ref-XXXXXX", tmp && *tmp ? tmp : "/tmp") >= cap || !mkdtemp(dir)) {
        fprintf(stderr, "reference: cannot make a folder for its sentences: %s\n", strerror(errno));
        dir[0] = '\0';
        return false;
    }
    snprintf(path, sizeof(path), "%s/train.es", dir);
    bool ok = write_lines(path, src, n);
    snprintf(path, sizeof(path), "%s/train.en", dir);
    ok = ok && write_lines(path, tgt, n);
    if (!ok)
        vknmt_ref_data_remove(dir);
    return ok;
}

void vknmt_ref_data_remove(const char *dir)
{
    if (!dir || !dir[0])
        return;
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/train.es", dir);
    unlink(path);
    snprintf(path, sizeof(path), "%s/train.en", dir);
    unlink(path);
    rmdir(dir);
}
