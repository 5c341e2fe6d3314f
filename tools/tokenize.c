/* The word tokenizer and detokenizer (rules in tokenize.h). */
#include "tokenize.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

struct vknmt_tokenizer {
    vknmt_tokenize_options opt;
    char *text;         /* owned: the tokens, each NUL-terminated */
    size_t text_len, text_cap;
    size_t *starts;     /* owned: byte offset of each token in text */
    const char **toks;  /* owned: the pointers handed out (into text) */
    size_t count, cap;
};

vknmt_status vknmt_tokenizer_create(const vknmt_tokenize_options *opt, vknmt_tokenizer **out)
{
    *out = NULL;
    vknmt_tokenizer *tk = calloc(1, sizeof(*tk));
    if (!tk)
        return VKNMT_ERR_OOM_HOST;
    if (opt)
        tk->opt = *opt;
    *out = tk;
    return VKNMT_OK;
}

void vknmt_tokenizer_destroy(vknmt_tokenizer *tk)
{
    if (!tk)
        return;
    free(tk->text);
    free(tk->starts);
    free(tk->toks);
    free(tk);
}

typedef enum cp_class { CP_SPACE, CP_MARK, CP_PUNCT, CP_WORD } cp_class;

static cp_class classify(int32_t cp)
{
    if (cp == 0xFEFF)
        return CP_SPACE;
    switch (utf8proc_category(cp)) {
    case UTF8PROC_CATEGORY_ZS:
    case UTF8PROC_CATEGORY_ZL:
    case UTF8PROC_CATEGORY_ZP:
    case UTF8PROC_CATEGORY_CC:
        return CP_SPACE;
    case UTF8PROC_CATEGORY_MN:
    case UTF8PROC_CATEGORY_MC:
    case UTF8PROC_CATEGORY_ME:
        return CP_MARK;
    case UTF8PROC_CATEGORY_PC:
    case UTF8PROC_CATEGORY_PD:
    case UTF8PROC_CATEGORY_PS:
    case UTF8PROC_CATEGORY_PE:
    case UTF8PROC_CATEGORY_PI:
    case UTF8PROC_CATEGORY_PF:
    case UTF8PROC_CATEGORY_PO:
    case UTF8PROC_CATEGORY_SM:
    case UTF8PROC_CATEGORY_SC:
    case UTF8PROC_CATEGORY_SK:
    case UTF8PROC_CATEGORY_SO:
        return CP_PUNCT;
    default:
        return CP_WORD;
    }
}

static bool is_letter(int32_t cp)
{
    utf8proc_category_t c = utf8proc_category(cp);
    return c >= UTF8PROC_CATEGORY_LU && c <= UTF8PROC_CATEGORY_LO;
}

static bool is_digit(int32_t cp) { return utf8proc_category(cp) == UTF8PROC_CATEGORY_ND; }

/* The byte offset of the first invalid sequence, or -1 when all is valid. */
static long long first_invalid(const uint8_t *s, size_t len)
{
    size_t i = 0;
    while (i < len) {
        int32_t cp;
        utf8proc_ssize_t n = utf8proc_iterate(s + i, (utf8proc_ssize_t)(len - i), &cp);
        if (n <= 0)
            return (long long)i;
        i += (size_t)n;
    }
    return -1;
}

static bool reserve(vknmt_tokenizer *tk, size_t more_bytes)
{
    if (tk->text_len + more_bytes <= tk->text_cap)
        return true;
    size_t cap = tk->text_cap ? tk->text_cap : 256;
    while (cap < tk->text_len + more_bytes)
        cap *= 2;
    char *t = realloc(tk->text, cap);
    if (!t)
        return false;
    tk->text = t;
    tk->text_cap = cap;
    return true;
}

static bool token_begin(vknmt_tokenizer *tk)
{
    if (tk->count == tk->cap) {
        size_t cap = tk->cap ? tk->cap * 2 : 64;
        size_t *s = realloc(tk->starts, cap * sizeof(*s));
        if (!s)
            return false;
        tk->starts = s;
        const char **p = realloc(tk->toks, cap * sizeof(*p));
        if (!p)
            return false;
        tk->toks = p;
        tk->cap = cap;
    }
    tk->starts[tk->count++] = tk->text_len;
    return true;
}

static bool token_end(vknmt_tokenizer *tk)
{
    if (!reserve(tk, 1))
        return false;
    tk->text[tk->text_len++] = '\0';
    return true;
}

static bool token_put(vknmt_tokenizer *tk, int32_t cp)
{
    if (!reserve(tk, 4))
        return false;
    tk->text_len += (size_t)utf8proc_encode_char(cp, (uint8_t *)tk->text + tk->text_len);
    return true;
}

/* Splits the normalised code points cps[0..n) into tokens. */
static bool split(vknmt_tokenizer *tk, const int32_t *cps, size_t n)
{
    enum { NONE, IN_WORD, IN_PUNCT } state = NONE;
    for (size_t i = 0; i < n; i++) {
        int32_t cp = cps[i];
        cp_class c = classify(cp);
        if (tk->opt.pretokenized && c != CP_SPACE)
            c = CP_WORD;
        if (c == CP_PUNCT && state == IN_WORD && i + 1 < n) {
            /* the two word-internal exceptions of tokenize.h */
            bool apostrophe = (cp == '\'' || cp == 0x2019) && is_letter(cps[i - 1]) && is_letter(cps[i + 1]);
            bool separator = (cp == '.' || cp == ',') && is_digit(cps[i - 1]) && is_digit(cps[i + 1]);
            if (apostrophe || separator)
                c = CP_WORD;
        }
        if (c == CP_MARK)
            c = state == IN_PUNCT ? CP_PUNCT : CP_WORD;
        bool continues = (c == CP_WORD && state == IN_WORD) || (classify(cp) == CP_MARK && state == IN_PUNCT);
        if (!continues && state != NONE) {
            if (!token_end(tk))
                return false;
            state = NONE;
        }
        if (c == CP_SPACE)
            continue;
        if (state == NONE) {
            if (!token_begin(tk))
                return false;
            state = c == CP_PUNCT ? IN_PUNCT : IN_WORD;
        }
        if (!token_put(tk, cp))
            return false;
    }
    return state == NONE || token_end(tk);
}

vknmt_status vknmt_tokenizer_run(vknmt_tokenizer *tk, const char *line, size_t len, const char *const **tokens,
                                 size_t *count, char *err, size_t err_size)
{
    *tokens = NULL;
    *count = 0;
    tk->text_len = 0;
    tk->count = 0;
    size_t ascii = 0;
    while (ascii < len && (uint8_t)line[ascii] < 0x80)
        ascii++;
    uint8_t *nfc = NULL;
    utf8proc_ssize_t nfc_len = (utf8proc_ssize_t)len;
    if (ascii < len) { /* ASCII is valid and already NFC */
        long long bad = first_invalid((const uint8_t *)line + ascii, len - ascii);
        if (bad >= 0) {
            snprintf(err, err_size, "invalid UTF-8 at byte %lld", (long long)ascii + bad + 1);
            return VKNMT_ERR_INPUT;
        }
        nfc_len = utf8proc_map((const uint8_t *)line, (utf8proc_ssize_t)len, &nfc, UTF8PROC_COMPOSE | UTF8PROC_STABLE);
        if (nfc_len < 0) {
            snprintf(err, err_size, "%s", utf8proc_errmsg(nfc_len));
            return nfc_len == UTF8PROC_ERROR_NOMEM ? VKNMT_ERR_OOM_HOST : VKNMT_ERR_INPUT;
        }
    }
    const uint8_t *text = nfc ? nfc : (const uint8_t *)line;
    /* decode once; a code point takes at least one byte */
    int32_t *cps = malloc(((size_t)nfc_len + 1) * sizeof(*cps));
    if (!cps) {
        free(nfc);
        snprintf(err, err_size, "out of memory");
        return VKNMT_ERR_OOM_HOST;
    }
    size_t n = 0;
    for (utf8proc_ssize_t i = 0; i < nfc_len;) {
        int32_t cp;
        i += utf8proc_iterate(text + i, nfc_len - i, &cp); /* valid: checked above */
        cps[n++] = tk->opt.lowercase ? utf8proc_tolower(cp) : cp;
    }
    free(nfc);
    bool ok = split(tk, cps, n);
    free(cps);
    if (!ok) {
        snprintf(err, err_size, "out of memory");
        return VKNMT_ERR_OOM_HOST;
    }
    for (size_t i = 0; i < tk->count; i++)
        tk->toks[i] = tk->text + tk->starts[i];
    *tokens = tk->toks;
    *count = tk->count;
    return VKNMT_OK;
}

/* ---- detokenizer ---- */

typedef enum mark_kind { MARK_NONE, MARK_OPEN, MARK_CLOSE, MARK_QUOTE } mark_kind;

static mark_kind mark_of(const char *tok)
{
    int32_t cp;
    size_t len = strlen(tok);
    utf8proc_ssize_t n = utf8proc_iterate((const uint8_t *)tok, (utf8proc_ssize_t)len, &cp);
    if (n <= 0 || (size_t)n != len)
        return MARK_NONE;
    if (cp == '"' || cp == '\'')
        return MARK_QUOTE;
    if (cp == 0xBF || cp == 0xA1) /* ¿ ¡ */
        return MARK_OPEN;
    if (cp > 0 && cp < 0x80 && strchr(",.;:!?%", cp))
        return MARK_CLOSE;
    if (cp == 0x2026) /* … */
        return MARK_CLOSE;
    switch (utf8proc_category(cp)) {
    case UTF8PROC_CATEGORY_PS:
    case UTF8PROC_CATEGORY_PI:
        return MARK_OPEN;
    case UTF8PROC_CATEGORY_PE:
    case UTF8PROC_CATEGORY_PF:
        return MARK_CLOSE;
    default:
        return MARK_NONE;
    }
}

vknmt_status vknmt_detokenize(const char *const *tokens, size_t count, char **out)
{
    *out = NULL;
    size_t cap = 1;
    for (size_t i = 0; i < count; i++)
        cap += strlen(tokens[i]) + 1;
    char *s = malloc(cap);
    if (!s)
        return VKNMT_ERR_OOM_HOST;
    size_t len = 0;
    bool after_open = true; /* no space before the first token */
    bool quote_open[2] = {false, false}; /* " and ' */
    for (size_t i = 0; i < count; i++) {
        mark_kind m = mark_of(tokens[i]);
        if (m == MARK_QUOTE) {
            bool *q = &quote_open[tokens[i][0] == '\''];
            m = *q ? MARK_CLOSE : MARK_OPEN;
            *q = !*q;
        }
        if (!after_open && m != MARK_CLOSE)
            s[len++] = ' ';
        size_t n = strlen(tokens[i]);
        memcpy(s + len, tokens[i], n);
        len += n;
        after_open = m == MARK_OPEN;
    }
    s[len] = '\0';
    *out = s;
    return VKNMT_OK;
}

uint64_t vknmt_count_words(const char *line)
{
    uint64_t n = 0;
    for (bool in = false; *line; line++) {
        bool blank = strchr(" \t\r\n", *line) != NULL;
        n += !blank && !in;
        in = !blank;
    }
    return n;
}
