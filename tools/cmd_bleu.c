/* vknmt bleu: corpus BLEU of a translation against one or more references,
 * printed as sacreBLEU 2.x prints it (bleu.h). Needs no device.
 *
 * Files are read as sacreBLEU's command line reads them: UTF-8, lines split
 * at '\n' only, each line rstrip()ped; a reference line that is then empty
 * is left out of its sentence (every reference empty is an error, as in
 * sacreBLEU). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "bleu.h"
#include "cli.h"

#define MAX_REFS 64

/* One file's lines: `text` (owned) with each '\n' replaced by NUL, `line`
 * (owned) pointing into it. */
typedef struct text_lines {
    const char *name; /* borrowed: the path, or "<stdin>" */
    char *text;
    char **line;
    size_t count;
} text_lines;

static void lines_free(text_lines *t)
{
    free(t->line);
    free(t->text);
}

/* str.isspace() of sacreBLEU's rstrip(), for the code point ending at s[end). */
static size_t trailing_space(const char *s, size_t end)
{
    size_t k = end - 1;
    while (k > 0 && ((unsigned char)s[k] & 0xC0) == 0x80)
        k--;
    utf8proc_int32_t c = -1;
    utf8proc_iterate((const utf8proc_uint8_t *)s + k, (utf8proc_ssize_t)(end - k), &c);
    bool space = (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20) || c == 0x85 || c == 0xA0 || c == 0x1680 ||
                 (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F ||
                 c == 0x3000;
    return space ? end - k : 0;
}

/* Reads `path` (NULL: standard input) and splits it into lines as Python
 * does (a last line without '\n' counts); checks UTF-8 and NUL bytes. */
static bool lines_read(const char *path, text_lines *t)
{
    *t = (text_lines){.name = path ? path : "<stdin>"};
    FILE *f = path ? fopen(path, "rb") : stdin;
    if (!f) {
        fprintf(stderr, "vknmt bleu: %s: %s\n", t->name, strerror(errno));
        return false;
    }
    size_t len = 0, cap = 1 << 16;
    t->text = malloc(cap);
    bool ok = t->text != NULL;
    while (ok) {
        if (len + 1 >= cap) {
            char *p = realloc(t->text, cap * 2);
            if (!p) {
                ok = false;
                break;
            }
            t->text = p;
            cap *= 2;
        }
        size_t n = fread(t->text + len, 1, cap - len - 1, f);
        len += n;
        if (n == 0)
            break;
    }
    bool read_err = ferror(f) != 0;
    if (path)
        fclose(f);
    if (!ok || read_err) {
        fprintf(stderr, "vknmt bleu: %s: %s\n", t->name, ok ? "read error" : "out of memory");
        return false;
    }
    t->text[len] = '\0';
    size_t count = 0;
    for (size_t i = 0; i < len; i++)
        count += t->text[i] == '\n';
    if (len && t->text[len - 1] != '\n')
        count++;
    t->line = malloc((count ? count : 1) * sizeof(char *));
    if (!t->line) {
        fprintf(stderr, "vknmt bleu: %s: out of memory\n", t->name);
        return false;
    }
    size_t start = 0;
    for (size_t i = 0; i < count; i++) {
        size_t end = start;
        while (end < len && t->text[end] != '\n')
            end++;
        size_t next = end + 1;
        const char *s = t->text + start;
        for (size_t j = 0; j < end - start; j++) {
            if (s[j] == '\0') {
                fprintf(stderr, "vknmt bleu: %s:%zu: NUL byte at byte %zu\n", t->name, i + 1, j + 1);
                return false;
            }
        }
        for (size_t j = 0; j < end - start;) {
            utf8proc_int32_t c;
            utf8proc_ssize_t k = utf8proc_iterate((const utf8proc_uint8_t *)s + j, (utf8proc_ssize_t)(end - start - j), &c);
            if (k <= 0 || c < 0) {
                fprintf(stderr, "vknmt bleu: %s:%zu: invalid UTF-8 at byte %zu\n", t->name, i + 1, j + 1);
                return false;
            }
            j += (size_t)k;
        }
        size_t n;
        while (end > start && (n = trailing_space(t->text + start, end - start)) > 0)
            end -= n;
        t->text[end] = '\0';
        t->line[i] = t->text + start;
        start = next;
    }
    t->count = count;
    return true;
}

/* The value of option argv[*i] (not vknmt_cli_value, which exits: the
 * tests call this command in-process). */
static const char *option_value(int argc, char **argv, int *i)
{
    if (*i + 1 >= argc) {
        fprintf(stderr, "vknmt bleu: %s needs a value\n", argv[*i]);
        return NULL;
    }
    return argv[++*i];
}

int vknmt_cmd_bleu(vknmt_cli *cli, int argc, char **argv)
{
    (void)cli;
    const char *ref_path[MAX_REFS], *hyp_path = NULL;
    size_t nrefs = 0;
    vknmt_bleu_options opt = {0};
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-r") == 0 || strcmp(argv[i], "--ref") == 0) {
            const char *v = option_value(argc, argv, &i);
            if (!v)
                return 2;
            if (nrefs == MAX_REFS) {
                fprintf(stderr, "vknmt bleu: at most %d reference files\n", MAX_REFS);
                return 2;
            }
            ref_path[nrefs++] = v;
        } else if (strcmp(argv[i], "-i") == 0 || strcmp(argv[i], "--input") == 0) {
            if (!(hyp_path = option_value(argc, argv, &i)))
                return 2;
        } else if (strcmp(argv[i], "-lc") == 0 || strcmp(argv[i], "--lowercase") == 0) {
            opt.lowercase = true;
        } else {
            fprintf(stderr, "vknmt bleu: unknown argument %s\n", argv[i]);
            return 2;
        }
    }
    if (!nrefs) {
        fprintf(stderr, "usage: vknmt bleu -r REF [-r REF2 ...] [-i HYP] [-lc]   (HYP: standard input when omitted)\n");
        return 2;
    }
    if (hyp_path && strcmp(hyp_path, "-") == 0)
        hyp_path = NULL;
    int rc = 1;
    text_lines hyp = {0}, ref[MAX_REFS] = {{0}};
    vknmt_bleu *bleu = NULL;
    const char *refs[MAX_REFS];
    size_t loaded = 0;
    if (!lines_read(hyp_path, &hyp))
        goto free_lines;
    for (; loaded < nrefs; loaded++) {
        bool ok = lines_read(ref_path[loaded], &ref[loaded]);
        if (!ok) {
            loaded++;
            goto free_lines;
        }
        if (ref[loaded].count != hyp.count) {
            fprintf(stderr, "vknmt bleu: %s has %zu lines but %s has %zu\n", hyp.name, hyp.count, ref[loaded].name,
                    ref[loaded].count);
            loaded++;
            goto free_lines;
        }
    }
    if (vknmt_bleu_create(&opt, &bleu) != VKNMT_OK) {
        fprintf(stderr, "vknmt bleu: out of memory\n");
        goto free_lines;
    }
    for (size_t l = 0; l < hyp.count; l++) {
        for (size_t r = 0; r < nrefs; r++)
            refs[r] = ref[r].line[l];
        char err[256];
        vknmt_status s = vknmt_bleu_add(bleu, hyp.line[l], refs, nrefs, err, sizeof(err));
        if (s != VKNMT_OK) {
            fprintf(stderr, "vknmt bleu: line %zu: %s\n", l + 1,
                    s == VKNMT_ERR_OOM_HOST ? "out of memory" : err);
            goto free_bleu;
        }
    }
    vknmt_bleu_score score = vknmt_bleu_corpus_score(bleu);
    char line[256], sig[128];
    vknmt_bleu_format(&score, line, sizeof(line));
    vknmt_bleu_signature(bleu, sig, sizeof(sig));
    printf("%s\n%s\n", line, sig);
    rc = 0;
free_bleu:
    vknmt_bleu_destroy(bleu);
free_lines:
    for (size_t r = 0; r < loaded; r++)
        lines_free(&ref[r]);
    lines_free(&hyp);
    return rc;
}
