/* The u64 -> u32 open-addressing map (u64_map.h). */
#include "u64_map.h"

#include <stdlib.h>

/* MurmurHash3's finaliser: spreads keys whose low bits repeat (pairs of
 * small ids) over the whole table. */
static uint64_t mix64(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ull;
    return x ^ (x >> 33);
}

static bool map_grow(vknmt_u64_map *m)
{
    size_t cap = m->cap ? m->cap * 2 : 1024;
    uint64_t *keys = calloc(cap, sizeof(*keys));
    uint32_t *vals = calloc(cap, sizeof(*vals));
    if (!keys || !vals) {
        free(keys);
        free(vals);
        return false;
    }
    for (size_t i = 0; i < m->cap; i++) {
        if (!m->keys[i])
            continue;
        size_t h = mix64(m->keys[i]) & (cap - 1);
        while (keys[h])
            h = (h + 1) & (cap - 1);
        keys[h] = m->keys[i];
        vals[h] = m->vals[i];
    }
    free(m->keys);
    free(m->vals);
    m->keys = keys;
    m->vals = vals;
    m->cap = cap;
    return true;
}

uint32_t *vknmt_u64_map_slot(vknmt_u64_map *m, uint64_t key, bool *inserted)
{
    if (inserted)
        *inserted = false;
    if ((m->count + 1) * 2 > m->cap && !map_grow(m))
        return NULL;
    size_t h = mix64(key) & (m->cap - 1);
    while (m->keys[h] && m->keys[h] != key)
        h = (h + 1) & (m->cap - 1);
    if (!m->keys[h]) {
        m->keys[h] = key;
        m->vals[h] = 0;
        m->count++;
        if (inserted)
            *inserted = true;
    }
    return &m->vals[h];
}

const uint32_t *vknmt_u64_map_find(const vknmt_u64_map *m, uint64_t key)
{
    if (!m->cap)
        return NULL;
    size_t h = mix64(key) & (m->cap - 1);
    while (m->keys[h]) {
        if (m->keys[h] == key)
            return &m->vals[h];
        h = (h + 1) & (m->cap - 1);
    }
    return NULL;
}

void vknmt_u64_map_free(vknmt_u64_map *m)
{
    free(m->keys);
    free(m->vals);
    *m = (vknmt_u64_map){0};
}
