/* Growable memory: arrays (vknmt_array_reserve) and NUL-terminated strings.
 *
 * A growable NUL-terminated string. Once an append fails for want of
 * memory, `oom` sticks and later appends do nothing, so a writer may append
 * freely and check once at the end. */
#ifndef VKNMT_STRBUF_H
#define VKNMT_STRBUF_H

#include <stdbool.h>
#include <stddef.h>

typedef struct vknmt_strbuf {
    char *p; /* owned; NULL until the first append */
    size_t len, cap;
    bool oom;
} vknmt_strbuf;

/* Room for `extra` more bytes and the NUL; false (and oom) when there is none. */
bool vknmt_strbuf_reserve(vknmt_strbuf *b, size_t extra);
/* Appends; each returns !b->oom. */
bool vknmt_strbuf_put(vknmt_strbuf *b, const char *s, size_t n);
bool vknmt_strbuf_puts(vknmt_strbuf *b, const char *s);
bool vknmt_strbuf_putc(vknmt_strbuf *b, char c);
void vknmt_strbuf_free(vknmt_strbuf *b);

/* Makes the array *p of *cap elements of `elem` bytes hold at least `need`
 * (doubling, so appends cost amortised O(1)); false, *p intact, on failure. */
bool vknmt_array_reserve(void **p, size_t *cap, size_t need, size_t elem);

#endif
