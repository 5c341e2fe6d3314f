/* A map from 64-bit keys to 32-bit values: open addressing, linear probing,
 * a power-of-two table at most half full. Key 0 marks an empty slot and is
 * never stored; callers make keys such as (a + 1) << 32 | (b + 1).
 * A zeroed struct is an empty map. */
#ifndef VKNMT_U64_MAP_H
#define VKNMT_U64_MAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct vknmt_u64_map {
    uint64_t *keys; /* owned; 0 = empty */
    uint32_t *vals; /* owned */
    size_t cap, count;
} vknmt_u64_map;

/* The value slot of `key` (not 0). A new key is inserted with value 0 and
 * *inserted (when given) set. NULL when out of memory. */
uint32_t *vknmt_u64_map_slot(vknmt_u64_map *m, uint64_t key, bool *inserted);
/* The value of `key`, or NULL when it is not there. */
const uint32_t *vknmt_u64_map_find(const vknmt_u64_map *m, uint64_t key);
void vknmt_u64_map_free(vknmt_u64_map *m);

#endif
