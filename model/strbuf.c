#include "strbuf.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

bool vknmt_strbuf_reserve(vknmt_strbuf *b, size_t extra)
{
    if (b->oom)
        return false;
    if (b->p && b->len + extra + 1 <= b->cap)
        return true;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < b->len + extra + 1)
        cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p) {
        b->oom = true;
        return false;
    }
    b->p = p;
    b->cap = cap;
    return true;
}

bool vknmt_strbuf_put(vknmt_strbuf *b, const char *s, size_t n)
{
    if (!vknmt_strbuf_reserve(b, n))
        return false;
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
    return true;
}

bool vknmt_strbuf_puts(vknmt_strbuf *b, const char *s) { return vknmt_strbuf_put(b, s, strlen(s)); }

bool vknmt_strbuf_putc(vknmt_strbuf *b, char c) { return vknmt_strbuf_put(b, &c, 1); }

void vknmt_strbuf_free(vknmt_strbuf *b)
{
    free(b->p);
    *b = (vknmt_strbuf){0};
}

bool vknmt_array_reserve(void **p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return true;
    size_t n = *cap ? *cap : 64;
    while (n < need)
        n *= 2;
    if (elem && n > SIZE_MAX / elem)
        return false;
    void *q = realloc(*p, n * elem);
    if (!q)
        return false;
    *p = q;
    *cap = n;
    return true;
}
