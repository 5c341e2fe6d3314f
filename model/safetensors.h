/* Reading and writing .safetensors files: the checkpoint, batch and gradient
 * format of vknmt (shared/ref/README.md, "Files").
 *
 * Layout: a u64 little-endian header length N, N bytes of JSON
 *   {"__metadata__": {str: str}, NAME: {"dtype": D, "shape": [..],
 *    "data_offsets": [begin, end]}, ...}
 * (padded with spaces), then the raw row-major little-endian tensor bytes;
 * offsets count from the first byte after the header.
 *
 * Ownership: a vknmt_st (file) owns every tensor, name and metadata string it
 * hands out; they live until vknmt_st_destroy. A writer copies what it is
 * given. Functions return a vknmt_status; where they take `char *err, size_t
 * err_size`, a failure writes a readable message there that names the file and
 * what is wrong (err may be NULL when err_size is 0). Nothing is printed.
 * Handles are not thread-safe; distinct handles are independent. */
#ifndef VKNMT_SAFETENSORS_H
#define VKNMT_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "vknmt_status.h"

typedef enum vknmt_st_dtype {
    VKNMT_ST_F64 = 0,
    VKNMT_ST_F32,
    VKNMT_ST_F16,
    VKNMT_ST_BF16,
    VKNMT_ST_I64,
    VKNMT_ST_I32,
    VKNMT_ST_I16,
    VKNMT_ST_I8,
    VKNMT_ST_U64,
    VKNMT_ST_U32,
    VKNMT_ST_U16,
    VKNMT_ST_U8,
    VKNMT_ST_BOOL,
    VKNMT_ST_DTYPE_COUNT
} vknmt_st_dtype;

/* "F32", ...; NULL for a value outside the enum. */
const char *vknmt_st_dtype_name(vknmt_st_dtype dtype);
/* Bytes per element; 0 for a value outside the enum. */
size_t vknmt_st_dtype_size(vknmt_st_dtype dtype);
/* The dtype of a name as written in a header ("F32"); -1 if unknown. */
int vknmt_st_dtype_parse(const char *name);

#define VKNMT_ST_MAX_DIMS 8

typedef struct vknmt_st_tensor {
    const char *name;                /* owned by the file handle */
    vknmt_st_dtype dtype;
    uint32_t ndim;                   /* 0 for a scalar */
    uint64_t shape[VKNMT_ST_MAX_DIMS];
    uint64_t numel;                  /* product of shape (1 for a scalar) */
    const void *data;                /* owned by the file handle; may be unaligned */
    uint64_t nbytes;                 /* numel * vknmt_st_dtype_size(dtype) */
} vknmt_st_tensor;

/* ------------------------------------------------------------------ reading */

typedef struct vknmt_st vknmt_st;

/* Reads the whole file and checks it: the header length lies inside the file,
 * the header is one JSON object (trailing spaces allowed), every dtype is
 * known, every shape is a list of at most VKNMT_ST_MAX_DIMS non-negative
 * integers whose byte size equals end - begin, every [begin, end] lies inside
 * the data, no two tensors overlap, names are unique, and __metadata__ (if
 * present) maps strings to strings. Bad content gives VKNMT_ERR_INPUT, a file
 * that cannot be read VKNMT_ERR_IO. *out is NULL on failure. */
vknmt_status vknmt_st_open(const char *path, vknmt_st **out, char *err, size_t err_size);
/* The same checks on bytes in memory (copied); `label` names them in messages. */
vknmt_status vknmt_st_open_memory(const void *bytes, size_t size, const char *label, vknmt_st **out,
                                  char *err, size_t err_size);
void vknmt_st_destroy(vknmt_st *st);

/* Tensors in file order (ascending data offset). */
size_t vknmt_st_count(const vknmt_st *st);
const vknmt_st_tensor *vknmt_st_at(const vknmt_st *st, size_t index);  /* NULL past the end */
const char *vknmt_st_name_at(const vknmt_st *st, size_t index);        /* NULL past the end */
const vknmt_st_tensor *vknmt_st_find(const vknmt_st *st, const char *name); /* NULL if absent */

/* __metadata__: the value of `key`, or NULL; and its entries by index. */
const char *vknmt_st_metadata(const vknmt_st *st, const char *key);
size_t vknmt_st_metadata_count(const vknmt_st *st);
const char *vknmt_st_metadata_key_at(const vknmt_st *st, size_t index);

/* Converts a tensor's numel elements into out[0..numel). `out_count` is the
 * room in `out`: less than numel gives VKNMT_ERR_SHAPE.
 * to_f32 / to_f64 accept every dtype (integers are converted by value, BOOL
 * as 0/1; F16 and BF16 are widened exactly; F64 -> F32 rounds).
 * to_i32 accepts the integer dtypes and BOOL, and float dtypes whose values
 * are all integers; a value outside int32 gives VKNMT_ERR_INPUT. */
vknmt_status vknmt_st_to_f32(const vknmt_st_tensor *t, float *out, uint64_t out_count, char *err,
                             size_t err_size);
vknmt_status vknmt_st_to_f64(const vknmt_st_tensor *t, double *out, uint64_t out_count, char *err,
                             size_t err_size);
vknmt_status vknmt_st_to_i32(const vknmt_st_tensor *t, int32_t *out, uint64_t out_count, char *err,
                             size_t err_size);

/* ------------------------------------------------------------------ writing */

typedef struct vknmt_st_writer vknmt_st_writer;

vknmt_status vknmt_st_writer_create(vknmt_st_writer **out);
void vknmt_st_writer_destroy(vknmt_st_writer *w);
/* Adds a tensor; `data` holds numel elements of `dtype` in host (little-endian)
 * order and is COPIED, so the caller may free it at once. Names must be unique,
 * non-empty and not "__metadata__"; ndim <= VKNMT_ST_MAX_DIMS. Errors:
 * VKNMT_ERR_USAGE (message in vknmt_st_writer_errmsg), VKNMT_ERR_OOM_HOST. */
vknmt_status vknmt_st_writer_add(vknmt_st_writer *w, const char *name, vknmt_st_dtype dtype, uint32_t ndim,
                                 const uint64_t *shape, const void *data);
/* Sets (or replaces) one __metadata__ entry; both strings are copied. */
vknmt_status vknmt_st_writer_set_metadata(vknmt_st_writer *w, const char *key, const char *value);
/* The message of the last failed add / set_metadata; "" if none. */
const char *vknmt_st_writer_errmsg(const vknmt_st_writer *w);
/* Writes the file atomically: a temporary file beside `path` is written,
 * flushed and fsync'ed, renamed over `path`, and the directory is fsync'ed, so
 * `path` holds either its old content or the whole new file. Tensors are laid
 * out largest element size first (then by name) and the header is padded with
 * spaces to a multiple of 8, so every tensor is aligned to its element size
 * in the file. The writer stays usable. Errors: VKNMT_ERR_IO, VKNMT_ERR_OOM_HOST. */
vknmt_status vknmt_st_writer_save(const vknmt_st_writer *w, const char *path, char *err, size_t err_size);

#endif
