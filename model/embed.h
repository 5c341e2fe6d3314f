/* Embedding lookups and their deterministic gradient. */
#ifndef VKNMT_EMBED_H
#define VKNMT_EMBED_H

#include "vknmt_runtime.h"

/* out[i, :] = table[ids[i], :] for i < n; table is [vocab, dim], ids int32
 * [n], out [n, dim]. An id outside [0, vocab) reads row 1 (<unk>). */
vknmt_status vknmt_embed_gather(vknmt_seq *seq, vknmt_ref table, uint32_t vocab, uint32_t dim, vknmt_ref ids,
                                uint32_t n, vknmt_ref out);

/* Two independent lookups (a decoding step's state reorder and its word
 * embeddings) in one dispatch where both run a quad per invocation, else
 * two. The second must not read what the first writes. */
typedef struct vknmt_lookup {
    vknmt_ref table;
    uint32_t vocab, dim;
    vknmt_ref ids;
    uint32_t n;
    vknmt_ref out;
} vknmt_lookup;
vknmt_status vknmt_embed_gather2(vknmt_seq *seq, const vknmt_lookup *first, const vknmt_lookup *second);

/* dtable[uniq[u], :] += sum of dout[order[p], :] for p in [starts[u], starts[u+1]),
 * in increasing p, for u < n_uniq. The host builds this CSR from the ids
 * (vknmt_embed_csr): no float atomics, so the same batch gives the same bits. */
vknmt_status vknmt_embed_scatter_add(vknmt_seq *seq, vknmt_ref dout, uint32_t dim, vknmt_ref order,
                                     vknmt_ref starts, vknmt_ref uniq, uint32_t n_uniq, vknmt_ref dtable,
                                     uint32_t vocab);

/* Host side: for ids[n], fills order[n] (positions sorted by id, stable),
 * uniq[*n_uniq] (distinct ids ascending) and starts[*n_uniq + 1].
 * `ids_skip` (e.g. 0 for <pad>, or -1 for none) is left out. */
void vknmt_embed_csr(const int32_t *ids, uint32_t n, int32_t ids_skip, int32_t *order, int32_t *uniq,
                     int32_t *starts, uint32_t *n_uniq);

#endif
