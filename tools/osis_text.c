/* OSIS markup to plain text (osis_text.h). The input is one verse entry of
 * a mod2imp dump: a flat mix of text, self-closing milestones
 * (<l sID=".."/>, <div eID=".."/>) and a few containers (<w>, <note>,
 * <title>). No XML parser is needed: tags are read one at a time and only
 * the dropped containers (<note>, <title>, <speaker>) are tracked until
 * their end tag. */
#include "osis_text.h"
#include "strbuf.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

/* The code point that starts at s[i] (-1 if invalid), its length in *n. */
static utf8proc_int32_t cp_at(const char *s, size_t len, size_t i, size_t *n)
{
    utf8proc_int32_t c = -1;
    utf8proc_ssize_t k = utf8proc_iterate((const utf8proc_uint8_t *)s + i, (utf8proc_ssize_t)(len - i), &c);
    *n = k > 0 ? (size_t)k : 1;
    return k > 0 ? c : -1;
}

/* The start of the code point that ends at s[end). */
static size_t cp_start_before(const char *s, size_t end)
{
    size_t k = end - 1;
    while (k > 0 && ((unsigned char)s[k] & 0xC0) == 0x80)
        k--;
    return k;
}

static bool is_letter(utf8proc_int32_t c)
{
    if (c < 0)
        return false;
    utf8proc_category_t cat = utf8proc_category(c);
    /* A combining accent continues its letter. */
    return (cat >= UTF8PROC_CATEGORY_LU && cat <= UTF8PROC_CATEGORY_LO) || cat == UTF8PROC_CATEGORY_MN;
}

static bool is_space(utf8proc_int32_t c)
{
    return c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r' || c == 0x85 ||
           (c >= 0 && utf8proc_category(c) >= UTF8PROC_CATEGORY_ZS && utf8proc_category(c) <= UTF8PROC_CATEGORY_ZP);
}

static bool is_upper(utf8proc_int32_t c)
{
    return c >= 0 && utf8proc_category(c) == UTF8PROC_CATEGORY_LU;
}

void vknmt_text_squeeze_spaces(char *s)
{
    size_t len = strlen(s), w = 0;
    bool pending = false;
    for (size_t i = 0; i < len;) {
        size_t n;
        utf8proc_int32_t c = cp_at(s, len, i, &n);
        if (is_space(c)) {
            pending = w > 0;
        } else {
            if (pending)
                s[w++] = ' ';
            pending = false;
            memmove(s + w, s + i, n);
            w += n;
        }
        i += n;
    }
    s[w] = '\0';
}

/* ---- tags ---- */

typedef struct osis_tag {
    const char *p; /* borrowed: the tag from '<' to '>' inclusive */
    size_t len;
    char name[24];
    bool closing, self_closing;
} osis_tag;

/* Reads the tag that starts at s[i] == '<'; false if it has no '>'. */
static bool tag_read(const char *s, size_t len, size_t i, osis_tag *t)
{
    const char *gt = memchr(s + i, '>', len - i);
    if (!gt)
        return false;
    t->p = s + i;
    t->len = (size_t)(gt - (s + i)) + 1;
    size_t k = 1;
    t->closing = t->len > 2 && t->p[1] == '/';
    k += t->closing;
    size_t n = 0;
    while (k < t->len - 1 && t->p[k] != ' ' && t->p[k] != '/' && t->p[k] != '>' && n + 1 < sizeof(t->name))
        t->name[n++] = t->p[k++];
    t->name[n] = '\0';
    t->self_closing = t->len >= 3 && t->p[t->len - 2] == '/';
    return true;
}

/* The tag has attribute `name` with exactly `value`. */
static bool tag_attr_is(const osis_tag *t, const char *name, const char *value)
{
    char want[64];
    int n = snprintf(want, sizeof(want), " %s=\"%s\"", name, value);
    if (n < 0 || (size_t)n >= sizeof(want) || (size_t)n > t->len)
        return false;
    for (size_t k = 0; k + (size_t)n <= t->len; k++)
        if (memcmp(t->p + k, want, (size_t)n) == 0)
            return true;
    return false;
}

static bool tag_has_attr(const osis_tag *t, const char *name)
{
    char want[32];
    int n = snprintf(want, sizeof(want), " %s=\"", name);
    for (size_t k = 0; n > 0 && k + (size_t)n <= t->len; k++)
        if (memcmp(t->p + k, want, (size_t)n) == 0)
            return true;
    return false;
}

/* Tags that only group words inside a line of text: removing them must not
 * separate the letters on either side. Everything else (<l>, <lb>, <div>,
 * <chapter>, <p>, ...) is a block boundary. */
static bool tag_is_inline(const char *name)
{
    static const char *const names[] = {"w", "transChange", "q", "divineName", "name", "seg", "foreign", "hi",
                                        "rdg", "catchWord", "added", "milestone", "reference", "abbr", "index"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (strcmp(name, names[i]) == 0)
            return true;
    return false;
}

/* s[start..end) holds no lower-case letter: a psalm "title" that is only the
 * letter name of an acrostic ("ALEPH"). Tags inside are skipped. */
static bool content_is_caps_word(const char *s, size_t start, size_t end)
{
    bool in_tag = false, any = false;
    for (size_t i = start; i < end;) {
        size_t n;
        utf8proc_int32_t c = cp_at(s, end, i, &n);
        if (c == '<')
            in_tag = true;
        else if (c == '>')
            in_tag = false;
        else if (!in_tag && is_letter(c)) {
            if (!is_upper(c))
                return false;
            any = true;
        } else if (!in_tag && !is_space(c) && c != '.')
            return false;
        i += n;
    }
    return any;
}

/* Where the element opened by `t` (at s[i]) ends: just past its end tag of
 * the same name (nesting counted), or len. */
static size_t element_end(const char *s, size_t len, size_t i, const osis_tag *t)
{
    if (t->self_closing)
        return i + t->len;
    int depth = 0;
    for (size_t k = i; k < len;) {
        const char *lt = memchr(s + k, '<', len - k);
        if (!lt)
            break;
        k = (size_t)(lt - s);
        osis_tag u;
        if (!tag_read(s, len, k, &u))
            break;
        if (strcmp(u.name, t->name) == 0 && !u.self_closing)
            depth += u.closing ? -1 : 1;
        k += u.len;
        if (depth == 0)
            return k;
    }
    return len;
}

/* ---- text ---- */

/* Decodes the entity at s[i] == '&' into b; returns its length, 0 if it is
 * not one (the '&' is then literal). */
static size_t entity_put(const char *s, size_t len, size_t i, vknmt_strbuf *b)
{
    static const struct {
        const char *name, *text;
    } named[] = {{"&amp;", "&"}, {"&lt;", "<"}, {"&gt;", ">"}, {"&quot;", "\""}, {"&apos;", "'"}};
    for (size_t k = 0; k < sizeof(named) / sizeof(named[0]); k++) {
        size_t n = strlen(named[k].name);
        if (len - i >= n && memcmp(s + i, named[k].name, n) == 0) {
            vknmt_strbuf_put(b, named[k].text, strlen(named[k].text));
            return n;
        }
    }
    if (len - i >= 4 && s[i + 1] == '#') {
        bool hex = s[i + 2] == 'x' || s[i + 2] == 'X';
        size_t k = i + 2 + hex;
        long v = 0;
        size_t digits = 0;
        for (; k < len && digits < 8; k++, digits++) {
            int d = s[k] >= '0' && s[k] <= '9' ? s[k] - '0'
                    : hex && ((s[k] | 0x20) >= 'a' && (s[k] | 0x20) <= 'f') ? (s[k] | 0x20) - 'a' + 10
                                                                               : -1;
            if (d < 0)
                break;
            v = v * (hex ? 16 : 10) + d;
        }
        if (digits && k < len && s[k] == ';' && utf8proc_codepoint_valid((utf8proc_int32_t)v) && v > 0) {
            utf8proc_uint8_t enc[4];
            utf8proc_ssize_t n = utf8proc_encode_char((utf8proc_int32_t)v, enc);
            vknmt_strbuf_put(b, (const char *)enc, (size_t)n);
            return k + 1 - i;
        }
    }
    return 0;
}

/* The letters that start s[i..len), up to anything else (a tag, a space). */
static size_t leading_word_len(const char *s, size_t len, size_t i)
{
    size_t k = i, n;
    while (k < len && is_letter(cp_at(s, len, k, &n)))
        k += n;
    return k - i;
}

static bool ends_with_letter(const vknmt_strbuf *b)
{
    size_t n;
    return b->len > 0 && is_letter(cp_at(b->p, b->len, cp_start_before(b->p, b->len), &n));
}

static bool has_text(const vknmt_strbuf *b)
{
    for (size_t i = 0; i < b->len; i++)
        if (!strchr(" \t\r\n", b->p[i]))
            return true;
    return false;
}

vknmt_status vknmt_osis_to_text(const char *osis, size_t len, const vknmt_osis_options *opt, char **out, char *err,
                                size_t err_size)
{
    static const vknmt_osis_options none = {0};
    *out = NULL;
    if (!opt)
        opt = &none;
    vknmt_strbuf b = {0};
    /* What lay between the last text and the next: a block boundary or a
     * dropped element (a space if letters meet), or inline tags only. */
    bool gap_block = false, gap_inline = false;
    bool opened_added = false; /* the last tag opened a <transChange> */
    size_t i = 0;
    while (i < len) {
        if (osis[i] == '<') {
            osis_tag t;
            if (!tag_read(osis, len, i, &t)) {
                snprintf(err, err_size, "unterminated tag at byte %zu", i + 1);
                free(b.p);
                return VKNMT_ERR_INPUT;
            }
            if (strcmp(t.name, "div") == 0 && !t.closing && !tag_has_attr(&t, "eID") &&
                (tag_attr_is(&t, "type", "glossary") || tag_attr_is(&t, "type", "introduction") ||
                 tag_attr_is(&t, "type", "front")))
                break; /* matter after the last verse of a book (WEB's glossary) */
            if (opt->cut_at_inner_preverse && strcmp(t.name, "div") == 0 &&
                tag_attr_is(&t, "subType", "x-preverse") && tag_has_attr(&t, "sID") && has_text(&b))
                break;
            bool drop = false;
            if (!t.closing && !t.self_closing) {
                if (strcmp(t.name, "note") == 0 || strcmp(t.name, "speaker") == 0)
                    drop = true;
                else if (strcmp(t.name, "title") == 0) {
                    size_t end = element_end(osis, len, i, &t);
                    drop = !(opt->keep_psalm_titles && tag_attr_is(&t, "canonical", "true") &&
                             tag_attr_is(&t, "type", "psalm") && !content_is_caps_word(osis, i + t.len, end));
                }
            }
            if (drop) {
                i = element_end(osis, len, i, &t);
                gap_block = true;
                continue;
            }
            if (tag_is_inline(t.name))
                gap_inline = true;
            else
                gap_block = true;
            opened_added = strcmp(t.name, "transChange") == 0 && !t.closing && !t.self_closing;
            i += t.len;
            continue;
        }
        size_t n;
        utf8proc_int32_t c = cp_at(osis, len, i, &n);
        if (c < 0) {
            snprintf(err, err_size, "invalid UTF-8 at byte %zu", i + 1);
            free(b.p);
            return VKNMT_ERR_INPUT;
        }
        if ((gap_block || gap_inline) && is_letter(c) && ends_with_letter(&b)) {
            bool space = gap_block;
            if (!space && opt->space_glued_words) {
                size_t wl = leading_word_len(osis, len, i);
                bool added = opened_added && i + wl + 1 < len && osis[i + wl] == '<' && osis[i + wl + 1] == '/';
                space = !(opt->join && opt->join(opt->join_user, b.p, b.len, osis + i, wl, added));
            }
            if (space)
                vknmt_strbuf_put(&b, " ", 1);
        }
        gap_block = gap_inline = opened_added = false;
        if (c == '&') {
            size_t used = entity_put(osis, len, i, &b);
            if (used) {
                i += used;
                continue;
            }
        }
        vknmt_strbuf_put(&b, osis + i, n);
        i += n;
    }
    if (b.oom || !b.p) {
        free(b.p);
        if (b.oom) {
            snprintf(err, err_size, "out of memory");
            return VKNMT_ERR_OOM_HOST;
        }
        b.p = NULL;
    }
    utf8proc_uint8_t *nfc = utf8proc_NFC((const utf8proc_uint8_t *)(b.p ? b.p : ""));
    free(b.p);
    if (!nfc) {
        snprintf(err, err_size, "out of memory");
        return VKNMT_ERR_OOM_HOST;
    }
    vknmt_text_squeeze_spaces((char *)nfc);
    *out = (char *)nfc;
    return VKNMT_OK;
}
