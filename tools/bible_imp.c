/* Reading a mod2imp dump: "$$$KEY" lines, each followed by the entry's raw
 * OSIS (one line as mod2imp writes it; more are joined). */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "bible_internal.h"

#define INSTALL_HINT "install libsword-utils sword-text-sparv sword-text-web"

/* Reads all of `f` into *data (NUL-ended, *len bytes). */
static bool slurp(FILE *f, char **data, size_t *len)
{
    size_t cap = 1 << 20, n = 0;
    char *d = malloc(cap);
    while (d) {
        if (n + 1 == cap) {
            char *p = realloc(d, cap * 2);
            if (!p)
                break;
            d = p;
            cap *= 2;
        }
        size_t got = fread(d + n, 1, cap - n - 1, f);
        n += got;
        if (got == 0) {
            d[n] = '\0';
            *data = d;
            *len = n;
            return !ferror(f);
        }
    }
    free(d);
    *data = NULL;
    return false;
}

/* Runs `mod2imp module` and keeps its standard output. */
static vknmt_status run_mod2imp(const char *module, char **data, size_t *len, char *err, size_t err_size)
{
    for (const char *c = module; *c; c++)
        if (!isalnum((unsigned char)*c) && *c != '_' && *c != '-') {
            snprintf(err, err_size, "bad SWORD module name '%s'", module);
            return VKNMT_ERR_USAGE;
        }
    char cmd[256];
    snprintf(cmd, sizeof(cmd), "mod2imp %s 2>/dev/null", module);
    FILE *p = popen(cmd, "r");
    if (!p) {
        snprintf(err, err_size, "cannot run mod2imp: %s", strerror(errno));
        return VKNMT_ERR_IO;
    }
    bool ok = slurp(p, data, len);
    int st = pclose(p);
    if (st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 127) {
        snprintf(err, err_size, "mod2imp not found: " INSTALL_HINT);
        goto fail;
    }
    if (!ok) {
        snprintf(err, err_size, "mod2imp %s: read error or out of memory", module);
        goto fail;
    }
    /* mod2imp exits 255 with nothing on stdout for a module it lacks */
    if (st == -1 || !WIFEXITED(st) || WEXITSTATUS(st) != 0 || *len == 0) {
        snprintf(err, err_size, "mod2imp %s failed (module not installed?): " INSTALL_HINT, module);
        goto fail;
    }
    return VKNMT_OK;
fail:
    free(*data);
    *data = NULL;
    return VKNMT_ERR_IO;
}

/* Parses "BOOK C:V" (without "$$$"); false if it is not of that form. */
static bool key_parse(const char *k, size_t len, int *book, uint32_t *chapter, uint32_t *verse)
{
    size_t sp = len;
    while (sp > 0 && k[sp - 1] != ' ')
        sp--;
    if (sp < 2)
        return false;
    const char *cv = k + sp;
    size_t cvlen = len - sp, i = 0;
    unsigned long c = 0, v = 0;
    size_t digits = 0;
    for (; i < cvlen && isdigit((unsigned char)cv[i]) && digits < 4; i++, digits++)
        c = c * 10 + (unsigned long)(cv[i] - '0');
    if (!digits || i >= cvlen || cv[i] != ':')
        return false;
    i++;
    digits = 0;
    for (; i < cvlen && isdigit((unsigned char)cv[i]) && digits < 4; i++, digits++)
        v = v * 10 + (unsigned long)(cv[i] - '0');
    if (!digits || i != cvlen)
        return false;
    *book = bible_book_find(k, sp - 1);
    *chapter = (uint32_t)c;
    *verse = (uint32_t)v;
    return true;
}

static vknmt_status parse(bible_imp *imp, size_t len, char *err, size_t err_size)
{
    size_t cap = 0;
    bible_entry *cur = NULL; /* the entry whose text follows, or NULL */
    bool in_entry = false;   /* after some key (a heading's or a skipped one's text is ignored) */
    uint64_t line = 0;
    for (size_t i = 0; i < len;) {
        char *nl = memchr(imp->data + i, '\n', len - i);
        size_t end = nl ? (size_t)(nl - imp->data) : len;
        char *s = imp->data + i;
        size_t n = end - i;
        line++;
        if (n && s[n - 1] == '\r')
            n--;
        if (memchr(s, '\0', n)) {
            snprintf(err, err_size, "%s:%llu: NUL byte", imp->name, (unsigned long long)line);
            return VKNMT_ERR_INPUT;
        }
        if (n >= 3 && memcmp(s, "$$$", 3) == 0) {
            const char *k = s + 3;
            size_t klen = n - 3;
            int book;
            uint32_t c, v;
            cur = NULL;
            in_entry = true;
            if (klen >= 2 && k[0] == '[' && k[klen - 1] == ']') {
                /* a module or testament heading */
            } else if (!key_parse(k, klen, &book, &c, &v)) {
                snprintf(err, err_size, "%s:%llu: malformed key line '%.*s' (want $$$BOOK C:V)", imp->name,
                         (unsigned long long)line, (int)(n > 60 ? 60 : n), s);
                return VKNMT_ERR_INPUT;
            } else if (book >= 0 && c >= 1 && v >= 1) {
                if (imp->count == cap) {
                    cap = cap ? cap * 2 : 32768;
                    bible_entry *e = realloc(imp->entry, cap * sizeof(*e));
                    if (!e) {
                        snprintf(err, err_size, "out of memory");
                        return VKNMT_ERR_OOM_HOST;
                    }
                    imp->entry = e;
                }
                cur = &imp->entry[imp->count++];
                *cur = (bible_entry){.book = book, .chapter = c, .verse = v, .osis = end < len ? s + (end - i) + 1 : s + n,
                                     .len = 0, .line = line};
            }
        } else if (!in_entry && n > 0) {
            snprintf(err, err_size, "%s:%llu: text before the first $$$ key", imp->name, (unsigned long long)line);
            return VKNMT_ERR_INPUT;
        } else if (cur) {
            /* the entry spans from its first text line to the end of this one */
            cur->len = (size_t)(s + n - cur->osis);
        }
        i = end + 1;
    }
    if (imp->count == 0) {
        snprintf(err, err_size, "%s: no verse of the 66 books found", imp->name);
        return VKNMT_ERR_INPUT;
    }
    return VKNMT_OK;
}

vknmt_status bible_imp_read(const char *path, const char *module, bible_imp *imp, char *err, size_t err_size)
{
    *imp = (bible_imp){0};
    size_t len = 0;
    vknmt_status st;
    if (path) {
        snprintf(imp->name, sizeof(imp->name), "%s", path);
        FILE *f = fopen(path, "rb");
        if (!f) {
            snprintf(err, err_size, "%s: %s", path, strerror(errno));
            return VKNMT_ERR_IO;
        }
        bool ok = slurp(f, &imp->data, &len);
        fclose(f);
        if (!ok) {
            snprintf(err, err_size, "%s: read error or out of memory", path);
            return VKNMT_ERR_IO;
        }
    } else {
        snprintf(imp->name, sizeof(imp->name), "mod2imp %s", module);
        st = run_mod2imp(module, &imp->data, &len, err, err_size);
        if (st != VKNMT_OK)
            return st;
    }
    st = parse(imp, len, err, err_size);
    if (st != VKNMT_OK)
        bible_imp_free(imp);
    return st;
}

void bible_imp_free(bible_imp *imp)
{
    free(imp->data);
    free(imp->entry);
    imp->data = NULL;
    imp->entry = NULL;
    imp->count = 0;
}
