/* safetensors reader and atomic writer (format: shared/ref/README.md). */
#include "safetensors.h"
#include "strbuf.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Tensor bytes are copied as they lie in the file: the host must be
 * little-endian, as every target of vknmt is. */
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "vknmt's safetensors code assumes a little-endian host"
#endif

/* JSON numbers are doubles: integers above 2^53 cannot be told apart. */
#define MAX_JSON_INT 9007199254740992.0
/* A header larger than this is refused as corrupt (the spec's tensors need ~2 KiB). */
#define MAX_HEADER_BYTES (100u << 20)

static vknmt_status fail(char *err, size_t n, vknmt_status status, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static vknmt_status fail(char *err, size_t n, vknmt_status status, const char *fmt, ...)
{
    if (err && n) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, n, fmt, ap);
        va_end(ap);
    }
    return status;
}

/* ------------------------------------------------------------------ dtypes */

static const struct {
    const char *name;
    size_t size;
} dtypes[VKNMT_ST_DTYPE_COUNT] = {
    [VKNMT_ST_F64] = {"F64", 8}, [VKNMT_ST_F32] = {"F32", 4}, [VKNMT_ST_F16] = {"F16", 2},
    [VKNMT_ST_BF16] = {"BF16", 2}, [VKNMT_ST_I64] = {"I64", 8}, [VKNMT_ST_I32] = {"I32", 4},
    [VKNMT_ST_I16] = {"I16", 2}, [VKNMT_ST_I8] = {"I8", 1}, [VKNMT_ST_U64] = {"U64", 8},
    [VKNMT_ST_U32] = {"U32", 4}, [VKNMT_ST_U16] = {"U16", 2}, [VKNMT_ST_U8] = {"U8", 1},
    [VKNMT_ST_BOOL] = {"BOOL", 1},
};

const char *vknmt_st_dtype_name(vknmt_st_dtype dtype)
{
    return (unsigned)dtype < VKNMT_ST_DTYPE_COUNT ? dtypes[dtype].name : NULL;
}

size_t vknmt_st_dtype_size(vknmt_st_dtype dtype)
{
    return (unsigned)dtype < VKNMT_ST_DTYPE_COUNT ? dtypes[dtype].size : 0;
}

int vknmt_st_dtype_parse(const char *name)
{
    for (int i = 0; name && i < VKNMT_ST_DTYPE_COUNT; i++)
        if (strcmp(name, dtypes[i].name) == 0)
            return i;
    return -1;
}

/* ------------------------------------------------------------------ reading */

struct vknmt_st {
    unsigned char *bytes;        /* owned: the whole file */
    const unsigned char *data;   /* into bytes: first byte after the header */
    uint64_t data_size;
    vknmt_st_tensor *tensors;    /* owned; each name owned */
    size_t count;
    char **meta_keys, **meta_values; /* owned */
    size_t meta_count;
};

void vknmt_st_destroy(vknmt_st *st)
{
    if (!st)
        return;
    for (size_t i = 0; i < st->count; i++)
        free((char *)st->tensors[i].name);
    for (size_t i = 0; i < st->meta_count; i++) {
        free(st->meta_keys[i]);
        free(st->meta_values[i]);
    }
    free(st->meta_keys);
    free(st->meta_values);
    free(st->tensors);
    free(st->bytes);
    free(st);
}

static bool json_uint(const cJSON *x, uint64_t *v)
{
    if (!cJSON_IsNumber(x))
        return false;
    double d = x->valuedouble;
    if (!(d >= 0 && d <= MAX_JSON_INT) || (double)(uint64_t)d != d)
        return false;
    *v = (uint64_t)d;
    return true;
}

static int cmp_offset(const void *a, const void *b)
{
    const vknmt_st_tensor *x = a, *y = b;
    const unsigned char *px = x->data, *py = y->data;
    if (px != py)
        return px < py ? -1 : 1;
    if (x->nbytes != y->nbytes)
        return x->nbytes < y->nbytes ? -1 : 1;
    return strcmp(x->name, y->name);
}

static int cmp_name_ptr(const void *a, const void *b)
{
    const vknmt_st_tensor *const *x = a, *const *y = b;
    return strcmp((*x)->name, (*y)->name);
}

/* One header entry -> *t (name not set). */
static vknmt_status parse_tensor(const cJSON *e, const char *label, const char *name, const unsigned char *data,
                                 uint64_t data_size, vknmt_st_tensor *t, char *err, size_t n)
{
    if (!cJSON_IsObject(e))
        return fail(err, n, VKNMT_ERR_INPUT, "%s: tensor \"%s\": header entry is not an object", label, name);
    const cJSON *jd = cJSON_GetObjectItemCaseSensitive(e, "dtype");
    const cJSON *js = cJSON_GetObjectItemCaseSensitive(e, "shape");
    const cJSON *jo = cJSON_GetObjectItemCaseSensitive(e, "data_offsets");
    if (!cJSON_IsString(jd))
        return fail(err, n, VKNMT_ERR_INPUT, "%s: tensor \"%s\": \"dtype\" is missing or not a string", label, name);
    int dt = vknmt_st_dtype_parse(jd->valuestring);
    if (dt < 0)
        return fail(err, n, VKNMT_ERR_INPUT, "%s: tensor \"%s\": unknown dtype \"%s\"", label, name,
                    jd->valuestring);
    t->dtype = (vknmt_st_dtype)dt;
    if (!cJSON_IsArray(js))
        return fail(err, n, VKNMT_ERR_INPUT, "%s: tensor \"%s\": \"shape\" is missing or not a list", label, name);
    int nd = cJSON_GetArraySize(js);
    if (nd > VKNMT_ST_MAX_DIMS)
        return fail(err, n, VKNMT_ERR_INPUT, "%s: tensor \"%s\": %d dimensions (at most %d supported)", label,
                    name, nd, VKNMT_ST_MAX_DIMS);
    t->ndim = (uint32_t)nd;
    uint64_t elem = dtypes[dt].size, numel = 1;
    bool too_big = false;
    const cJSON *x;
    int k = 0;
    cJSON_ArrayForEach(x, js)
    {
        uint64_t d;
        if (!json_uint(x, &d))
            return fail(err, n, VKNMT_ERR_INPUT, "%s: tensor \"%s\": shape[%d] is not a non-negative integer",
                        label, name, k);
        t->shape[k++] = d;
        if (d && numel > (UINT64_MAX / elem) / d)
            too_big = true;
        else
            numel *= d;
    }
    if (too_big)
        return fail(err, n, VKNMT_ERR_INPUT, "%s: tensor \"%s\": shape is too large", label, name);
    t->numel = numel;
    t->nbytes = numel * elem;
    uint64_t off[2];
    if (!cJSON_IsArray(jo) || cJSON_GetArraySize(jo) != 2 || !json_uint(cJSON_GetArrayItem(jo, 0), &off[0]) ||
        !json_uint(cJSON_GetArrayItem(jo, 1), &off[1]))
        return fail(err, n, VKNMT_ERR_INPUT, "%s: tensor \"%s\": \"data_offsets\" is not [begin, end]", label,
                    name);
    if (off[1] < off[0])
        return fail(err, n, VKNMT_ERR_INPUT, "%s: tensor \"%s\": data_offsets [%llu, %llu] end before they begin",
                    label, name, (unsigned long long)off[0], (unsigned long long)off[1]);
    if (off[1] > data_size)
        return fail(err, n, VKNMT_ERR_INPUT,
                    "%s: tensor \"%s\": data_offsets [%llu, %llu] run past the end of the data (%llu bytes): "
                    "truncated file?",
                    label, name, (unsigned long long)off[0], (unsigned long long)off[1],
                    (unsigned long long)data_size);
    if (off[1] - off[0] != t->nbytes)
        return fail(err, n, VKNMT_ERR_INPUT,
                    "%s: tensor \"%s\": %s shape of %llu elements needs %llu bytes but data_offsets [%llu, %llu] "
                    "hold %llu",
                    label, name, dtypes[dt].name, (unsigned long long)numel, (unsigned long long)t->nbytes,
                    (unsigned long long)off[0], (unsigned long long)off[1], (unsigned long long)(off[1] - off[0]));
    t->data = data + off[0];
    return VKNMT_OK;
}

static vknmt_status parse_metadata(vknmt_st *st, const cJSON *m, const char *label, char *err, size_t n)
{
    if (!cJSON_IsObject(m))
        return fail(err, n, VKNMT_ERR_INPUT, "%s: \"__metadata__\" is not an object", label);
    size_t cnt = (size_t)cJSON_GetArraySize(m);
    st->meta_keys = calloc(cnt ? cnt : 1, sizeof(char *));
    st->meta_values = calloc(cnt ? cnt : 1, sizeof(char *));
    if (!st->meta_keys || !st->meta_values)
        return fail(err, n, VKNMT_ERR_OOM_HOST, "%s: out of memory", label);
    const cJSON *x;
    cJSON_ArrayForEach(x, m)
    {
        if (!cJSON_IsString(x))
            return fail(err, n, VKNMT_ERR_INPUT, "%s: __metadata__ \"%s\" is not a string", label, x->string);
        for (size_t i = 0; i < st->meta_count; i++)
            if (strcmp(st->meta_keys[i], x->string) == 0)
                return fail(err, n, VKNMT_ERR_INPUT, "%s: __metadata__ \"%s\" appears twice", label, x->string);
        char *k = strdup(x->string), *v = strdup(x->valuestring);
        if (!k || !v) {
            free(k);
            free(v);
            return fail(err, n, VKNMT_ERR_OOM_HOST, "%s: out of memory", label);
        }
        st->meta_keys[st->meta_count] = k;
        st->meta_values[st->meta_count++] = v;
    }
    return VKNMT_OK;
}

/* Checks st->bytes[0..size) and fills st. */
static vknmt_status parse(vknmt_st *st, size_t size, const char *label, char *err, size_t n)
{
    if (size < 8)
        return fail(err, n, VKNMT_ERR_INPUT, "%s: %zu bytes, too short for the 8-byte header length", label, size);
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--)
        hlen = hlen << 8 | st->bytes[i];
    if (hlen > size - 8)
        return fail(err, n, VKNMT_ERR_INPUT,
                    "%s: header length %llu is past the end of the file (%zu bytes): truncated or not safetensors",
                    label, (unsigned long long)hlen, size);
    if (hlen > MAX_HEADER_BYTES)
        return fail(err, n, VKNMT_ERR_INPUT, "%s: header length %llu is implausibly large", label,
                    (unsigned long long)hlen);
    const char *hdr = (const char *)st->bytes + 8;
    if (hlen < 2 || hdr[0] != '{')
        return fail(err, n, VKNMT_ERR_INPUT, "%s: header does not start with '{': not a safetensors file", label);
    st->data = st->bytes + 8 + hlen;
    st->data_size = size - 8 - hlen;

    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(hdr, (size_t)hlen, &end, false);
    if (!root) {
        size_t at = end && end >= hdr ? (size_t)(end - hdr) : 0;
        return fail(err, n, VKNMT_ERR_INPUT, "%s: header is not valid JSON (error near byte %zu of %llu)", label,
                    at, (unsigned long long)hlen);
    }
    vknmt_status s = VKNMT_OK;
    const vknmt_st_tensor **by_name = NULL;
    for (const char *p = end; p < hdr + hlen; p++)
        if (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\r') {
            s = fail(err, n, VKNMT_ERR_INPUT, "%s: header has bytes after its JSON object (at byte %zu)", label,
                     (size_t)(p - hdr));
            goto free_json;
        }
    if (!cJSON_IsObject(root)) {
        s = fail(err, n, VKNMT_ERR_INPUT, "%s: header is not a JSON object", label);
        goto free_json;
    }
    size_t entries = (size_t)cJSON_GetArraySize(root);
    st->tensors = calloc(entries ? entries : 1, sizeof(*st->tensors));
    if (!st->tensors) {
        s = fail(err, n, VKNMT_ERR_OOM_HOST, "%s: out of memory", label);
        goto free_json;
    }
    bool have_meta = false;
    const cJSON *e;
    cJSON_ArrayForEach(e, root)
    {
        if (strcmp(e->string, "__metadata__") == 0) {
            if (have_meta) {
                s = fail(err, n, VKNMT_ERR_INPUT, "%s: \"__metadata__\" appears twice", label);
                goto free_json;
            }
            have_meta = true;
            s = parse_metadata(st, e, label, err, n);
            if (s)
                goto free_json;
            continue;
        }
        vknmt_st_tensor t = {0};
        s = parse_tensor(e, label, e->string, st->data, st->data_size, &t, err, n);
        if (s)
            goto free_json;
        t.name = strdup(e->string);
        if (!t.name) {
            s = fail(err, n, VKNMT_ERR_OOM_HOST, "%s: out of memory", label);
            goto free_json;
        }
        st->tensors[st->count++] = t;
    }

    /* unique names */
    by_name = malloc((st->count ? st->count : 1) * sizeof(*by_name));
    if (!by_name) {
        s = fail(err, n, VKNMT_ERR_OOM_HOST, "%s: out of memory", label);
        goto free_json;
    }
    for (size_t i = 0; i < st->count; i++)
        by_name[i] = &st->tensors[i];
    qsort(by_name, st->count, sizeof(*by_name), cmp_name_ptr);
    for (size_t i = 1; i < st->count; i++)
        if (strcmp(by_name[i - 1]->name, by_name[i]->name) == 0) {
            s = fail(err, n, VKNMT_ERR_INPUT, "%s: tensor \"%s\" appears twice", label, by_name[i]->name);
            goto free_by_name;
        }

    /* file order, and no two tensors share a byte */
    qsort(st->tensors, st->count, sizeof(*st->tensors), cmp_offset);
    const vknmt_st_tensor *prev = NULL;
    for (size_t i = 0; i < st->count; i++) {
        const vknmt_st_tensor *t = &st->tensors[i];
        if (!t->nbytes)
            continue;
        const unsigned char *b = t->data, *pe = prev ? (const unsigned char *)prev->data + prev->nbytes : NULL;
        if (prev && b < pe) {
            s = fail(err, n, VKNMT_ERR_INPUT, "%s: tensors \"%s\" [%llu, %llu] and \"%s\" [%llu, %llu] overlap",
                     label, prev->name, (unsigned long long)((const unsigned char *)prev->data - st->data),
                     (unsigned long long)(pe - st->data), t->name, (unsigned long long)(b - st->data),
                     (unsigned long long)(b - st->data + t->nbytes));
            goto free_by_name;
        }
        prev = t;
    }

free_by_name:
    free(by_name);
free_json:
    cJSON_Delete(root);
    return s;
}

/* Takes ownership of bytes (malloc'ed) in every case. */
static vknmt_status open_bytes(unsigned char *bytes, size_t size, const char *label, vknmt_st **out, char *err,
                               size_t n)
{
    vknmt_st *st = calloc(1, sizeof(*st));
    if (!st) {
        free(bytes);
        return fail(err, n, VKNMT_ERR_OOM_HOST, "%s: out of memory", label);
    }
    st->bytes = bytes;
    vknmt_status s = parse(st, size, label, err, n);
    if (s) {
        vknmt_st_destroy(st);
        return s;
    }
    *out = st;
    return VKNMT_OK;
}

vknmt_status vknmt_st_open_memory(const void *bytes, size_t size, const char *label, vknmt_st **out, char *err,
                                  size_t n)
{
    if (!out)
        return fail(err, n, VKNMT_ERR_USAGE, "vknmt_st_open_memory: out is NULL");
    *out = NULL;
    if (!label)
        label = "(memory)";
    if (!bytes && size)
        return fail(err, n, VKNMT_ERR_USAGE, "%s: no bytes", label);
    unsigned char *copy = malloc(size ? size : 1);
    if (!copy)
        return fail(err, n, VKNMT_ERR_OOM_HOST, "%s: out of memory for %zu bytes", label, size);
    if (size)
        memcpy(copy, bytes, size);
    return open_bytes(copy, size, label, out, err, n);
}

vknmt_status vknmt_st_open(const char *path, vknmt_st **out, char *err, size_t n)
{
    if (!out)
        return fail(err, n, VKNMT_ERR_USAGE, "vknmt_st_open: out is NULL");
    *out = NULL;
    if (!path)
        return fail(err, n, VKNMT_ERR_USAGE, "vknmt_st_open: path is NULL");
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return fail(err, n, VKNMT_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    vknmt_status s = VKNMT_OK;
    unsigned char *bytes = NULL;
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        s = fail(err, n, VKNMT_ERR_IO, "%s: cannot stat: %s", path, strerror(errno));
        goto close_fd;
    }
    if (!S_ISREG(sb.st_mode)) {
        s = fail(err, n, VKNMT_ERR_IO, "%s: not a regular file", path);
        goto close_fd;
    }
    if ((uint64_t)sb.st_size > SIZE_MAX - 1) {
        s = fail(err, n, VKNMT_ERR_IO, "%s: too large to read", path);
        goto close_fd;
    }
    size_t size = (size_t)sb.st_size;
    bytes = malloc(size ? size : 1);
    if (!bytes) {
        s = fail(err, n, VKNMT_ERR_OOM_HOST, "%s: out of memory for %zu bytes", path, size);
        goto close_fd;
    }
    for (size_t got = 0; got < size;) {
        ssize_t r = read(fd, bytes + got, size - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            s = fail(err, n, VKNMT_ERR_IO, "%s: read failed: %s", path, strerror(errno));
            goto free_bytes;
        }
        if (r == 0) {
            s = fail(err, n, VKNMT_ERR_IO, "%s: file shrank while being read (%zu of %zu bytes)", path, got, size);
            goto free_bytes;
        }
        got += (size_t)r;
    }
    close(fd);
    return open_bytes(bytes, size, path, out, err, n);

free_bytes:
    free(bytes);
close_fd:
    close(fd);
    return s;
}

size_t vknmt_st_count(const vknmt_st *st) { return st ? st->count : 0; }

const vknmt_st_tensor *vknmt_st_at(const vknmt_st *st, size_t index)
{
    return st && index < st->count ? &st->tensors[index] : NULL;
}

const char *vknmt_st_name_at(const vknmt_st *st, size_t index)
{
    return st && index < st->count ? st->tensors[index].name : NULL;
}

const vknmt_st_tensor *vknmt_st_find(const vknmt_st *st, const char *name)
{
    for (size_t i = 0; st && name && i < st->count; i++)
        if (strcmp(st->tensors[i].name, name) == 0)
            return &st->tensors[i];
    return NULL;
}

const char *vknmt_st_metadata(const vknmt_st *st, const char *key)
{
    for (size_t i = 0; st && key && i < st->meta_count; i++)
        if (strcmp(st->meta_keys[i], key) == 0)
            return st->meta_values[i];
    return NULL;
}

size_t vknmt_st_metadata_count(const vknmt_st *st) { return st ? st->meta_count : 0; }

const char *vknmt_st_metadata_key_at(const vknmt_st *st, size_t index)
{
    return st && index < st->meta_count ? st->meta_keys[index] : NULL;
}

/* --------------------------------------------------------------- converting */

static float half_to_float(uint16_t h)
{
    int e = (h >> 10) & 0x1f;
    unsigned mant = h & 0x3ffu;
    float v;
    if (e == 0)
        v = ldexpf((float)mant, -24);
    else if (e == 31)
        v = mant ? NAN : INFINITY;
    else
        v = ldexpf((float)(mant | 0x400u), e - 25);
    return (h & 0x8000u) ? -v : v;
}

/* Element i of t, exactly, as a float value (double) or as an integer. */
static double load_float(const vknmt_st_tensor *t, uint64_t i)
{
    const unsigned char *p = (const unsigned char *)t->data + i * dtypes[t->dtype].size;
    union {
        double f64;
        float f32;
        uint16_t u16;
        uint32_t u32;
        int64_t i64;
        int32_t i32;
        int16_t i16;
        int8_t i8;
        uint64_t u64;
        uint8_t u8;
    } v;
    memcpy(&v, p, dtypes[t->dtype].size);
    switch (t->dtype) {
    case VKNMT_ST_F64: return v.f64;
    case VKNMT_ST_F32: return v.f32;
    case VKNMT_ST_F16: return half_to_float(v.u16);
    case VKNMT_ST_BF16: {
        uint32_t bits = (uint32_t)v.u16 << 16;
        float f;
        memcpy(&f, &bits, 4);
        return f;
    }
    case VKNMT_ST_I64: return (double)v.i64;
    case VKNMT_ST_I32: return v.i32;
    case VKNMT_ST_I16: return v.i16;
    case VKNMT_ST_I8: return v.i8;
    case VKNMT_ST_U64: return (double)v.u64;
    case VKNMT_ST_U32: return v.u32;
    case VKNMT_ST_U16: return v.u16;
    case VKNMT_ST_U8: return v.u8;
    case VKNMT_ST_BOOL: return v.u8 != 0;
    case VKNMT_ST_DTYPE_COUNT: break;
    }
    return NAN;
}

static bool is_int_dtype(vknmt_st_dtype d) { return d >= VKNMT_ST_I64 && d <= VKNMT_ST_BOOL; }

/* Element i of an integer tensor; false when it does not fit in int64. */
static bool load_int(const vknmt_st_tensor *t, uint64_t i, int64_t *out)
{
    const unsigned char *p = (const unsigned char *)t->data + i * dtypes[t->dtype].size;
    if (t->dtype == VKNMT_ST_I64) {
        memcpy(out, p, 8);
        return true;
    }
    if (t->dtype == VKNMT_ST_U64) {
        uint64_t u;
        memcpy(&u, p, 8);
        *out = (int64_t)(u & INT64_MAX);
        return u <= (uint64_t)INT64_MAX;
    }
    *out = (int64_t)load_float(t, i); /* exact for every narrower integer */
    return true;
}

static vknmt_status check_convert(const vknmt_st_tensor *t, uint64_t out_count, const void *out, char *err,
                                  size_t n)
{
    if (!t || (unsigned)t->dtype >= VKNMT_ST_DTYPE_COUNT)
        return fail(err, n, VKNMT_ERR_USAGE, "conversion of a NULL or invalid tensor");
    if (out_count < t->numel)
        return fail(err, n, VKNMT_ERR_SHAPE, "tensor \"%s\": %llu elements do not fit in room for %llu",
                    t->name ? t->name : "?", (unsigned long long)t->numel, (unsigned long long)out_count);
    if (!out && t->numel)
        return fail(err, n, VKNMT_ERR_USAGE, "tensor \"%s\": output is NULL", t->name ? t->name : "?");
    return VKNMT_OK;
}

vknmt_status vknmt_st_to_f64(const vknmt_st_tensor *t, double *out, uint64_t out_count, char *err, size_t n)
{
    vknmt_status s = check_convert(t, out_count, out, err, n);
    if (s)
        return s;
    if (t->dtype == VKNMT_ST_F64) {
        if (t->nbytes)
            memcpy(out, t->data, t->nbytes);
        return VKNMT_OK;
    }
    for (uint64_t i = 0; i < t->numel; i++)
        out[i] = load_float(t, i);
    return VKNMT_OK;
}

vknmt_status vknmt_st_to_f32(const vknmt_st_tensor *t, float *out, uint64_t out_count, char *err, size_t n)
{
    vknmt_status s = check_convert(t, out_count, out, err, n);
    if (s)
        return s;
    if (t->dtype == VKNMT_ST_F32) {
        if (t->nbytes)
            memcpy(out, t->data, t->nbytes);
        return VKNMT_OK;
    }
    for (uint64_t i = 0; i < t->numel; i++)
        out[i] = (float)load_float(t, i);
    return VKNMT_OK;
}

vknmt_status vknmt_st_to_i32(const vknmt_st_tensor *t, int32_t *out, uint64_t out_count, char *err, size_t n)
{
    vknmt_status s = check_convert(t, out_count, out, err, n);
    if (s)
        return s;
    for (uint64_t i = 0; i < t->numel; i++) {
        int64_t v;
        bool ok;
        if (is_int_dtype(t->dtype)) {
            ok = load_int(t, i, &v);
        } else {
            double d = load_float(t, i);
            ok = d >= -2147483648.0 && d <= 2147483647.0 && d == (double)(int64_t)d;
            v = ok ? (int64_t)d : 0;
        }
        if (!ok || v < INT32_MIN || v > INT32_MAX)
            return fail(err, n, VKNMT_ERR_INPUT, "tensor \"%s\": element %llu is not an int32 value",
                        t->name ? t->name : "?", (unsigned long long)i);
        out[i] = (int32_t)v;
    }
    return VKNMT_OK;
}

/* ------------------------------------------------------------------ writing */

typedef struct st_entry {
    char *name; /* owned */
    vknmt_st_dtype dtype;
    uint32_t ndim;
    uint64_t shape[VKNMT_ST_MAX_DIMS];
    uint64_t nbytes;
    void *data; /* owned copy */
} st_entry;

struct vknmt_st_writer {
    st_entry *entries; /* owned */
    size_t count, cap;
    char **meta_keys, **meta_values; /* owned */
    size_t meta_count, meta_cap;
    char errmsg[256];
};

vknmt_status vknmt_st_writer_create(vknmt_st_writer **out)
{
    if (!out)
        return VKNMT_ERR_USAGE;
    *out = calloc(1, sizeof(**out));
    return *out ? VKNMT_OK : VKNMT_ERR_OOM_HOST;
}

void vknmt_st_writer_destroy(vknmt_st_writer *w)
{
    if (!w)
        return;
    for (size_t i = 0; i < w->count; i++) {
        free(w->entries[i].name);
        free(w->entries[i].data);
    }
    for (size_t i = 0; i < w->meta_count; i++) {
        free(w->meta_keys[i]);
        free(w->meta_values[i]);
    }
    free(w->entries);
    free(w->meta_keys);
    free(w->meta_values);
    free(w);
}

const char *vknmt_st_writer_errmsg(const vknmt_st_writer *w) { return w ? w->errmsg : ""; }

vknmt_status vknmt_st_writer_add(vknmt_st_writer *w, const char *name, vknmt_st_dtype dtype, uint32_t ndim,
                                 const uint64_t *shape, const void *data)
{
    if (!w)
        return VKNMT_ERR_USAGE;
    w->errmsg[0] = '\0';
    char *e = w->errmsg;
    size_t en = sizeof(w->errmsg);
    if (!name || !name[0] || strcmp(name, "__metadata__") == 0)
        return fail(e, en, VKNMT_ERR_USAGE, "tensor name \"%s\" is not allowed", name ? name : "(null)");
    if ((unsigned)dtype >= VKNMT_ST_DTYPE_COUNT)
        return fail(e, en, VKNMT_ERR_USAGE, "tensor \"%s\": invalid dtype %d", name, (int)dtype);
    if (ndim > VKNMT_ST_MAX_DIMS || (ndim && !shape))
        return fail(e, en, VKNMT_ERR_USAGE, "tensor \"%s\": bad shape (%u dimensions)", name, ndim);
    for (size_t i = 0; i < w->count; i++)
        if (strcmp(w->entries[i].name, name) == 0)
            return fail(e, en, VKNMT_ERR_USAGE, "tensor \"%s\" added twice", name);
    uint64_t numel = 1, elem = dtypes[dtype].size;
    for (uint32_t i = 0; i < ndim; i++) {
        if (shape[i] > (uint64_t)MAX_JSON_INT || (shape[i] && numel > ((uint64_t)MAX_JSON_INT / elem) / shape[i]))
            return fail(e, en, VKNMT_ERR_USAGE, "tensor \"%s\": shape too large", name);
        numel *= shape[i];
    }
    uint64_t nbytes = numel * elem;
    if (nbytes > SIZE_MAX)
        return fail(e, en, VKNMT_ERR_USAGE, "tensor \"%s\": shape too large", name);
    if (nbytes && !data)
        return fail(e, en, VKNMT_ERR_USAGE, "tensor \"%s\": data is NULL", name);
    if (w->count == w->cap) {
        size_t cap = w->cap ? 2 * w->cap : 16;
        st_entry *p = realloc(w->entries, cap * sizeof(*p));
        if (!p)
            return fail(e, en, VKNMT_ERR_OOM_HOST, "out of memory");
        w->entries = p;
        w->cap = cap;
    }
    st_entry t = {.dtype = dtype, .ndim = ndim, .nbytes = nbytes};
    for (uint32_t i = 0; i < ndim; i++)
        t.shape[i] = shape[i];
    t.name = strdup(name);
    t.data = malloc(nbytes ? (size_t)nbytes : 1);
    if (!t.name || !t.data) {
        free(t.name);
        free(t.data);
        return fail(e, en, VKNMT_ERR_OOM_HOST, "tensor \"%s\": out of memory", name);
    }
    if (nbytes)
        memcpy(t.data, data, (size_t)nbytes);
    w->entries[w->count++] = t;
    return VKNMT_OK;
}

vknmt_status vknmt_st_writer_set_metadata(vknmt_st_writer *w, const char *key, const char *value)
{
    if (!w)
        return VKNMT_ERR_USAGE;
    w->errmsg[0] = '\0';
    if (!key || !value)
        return fail(w->errmsg, sizeof(w->errmsg), VKNMT_ERR_USAGE, "metadata key or value is NULL");
    char *v = strdup(value);
    if (!v)
        return fail(w->errmsg, sizeof(w->errmsg), VKNMT_ERR_OOM_HOST, "out of memory");
    for (size_t i = 0; i < w->meta_count; i++)
        if (strcmp(w->meta_keys[i], key) == 0) {
            free(w->meta_values[i]);
            w->meta_values[i] = v;
            return VKNMT_OK;
        }
    if (w->meta_count == w->meta_cap) {
        size_t cap = w->meta_cap ? 2 * w->meta_cap : 8;
        char **k2 = realloc(w->meta_keys, cap * sizeof(*k2));
        if (k2)
            w->meta_keys = k2;
        char **v2 = k2 ? realloc(w->meta_values, cap * sizeof(*v2)) : NULL;
        if (v2)
            w->meta_values = v2;
        if (!k2 || !v2) {
            free(v);
            return fail(w->errmsg, sizeof(w->errmsg), VKNMT_ERR_OOM_HOST, "out of memory");
        }
        w->meta_cap = cap;
    }
    char *k = strdup(key);
    if (!k) {
        free(v);
        return fail(w->errmsg, sizeof(w->errmsg), VKNMT_ERR_OOM_HOST, "out of memory");
    }
    w->meta_keys[w->meta_count] = k;
    w->meta_values[w->meta_count++] = v;
    return VKNMT_OK;
}


static void sb_u64(vknmt_strbuf *b, uint64_t v)
{
    char tmp[32];
    int k = snprintf(tmp, sizeof(tmp), "%llu", (unsigned long long)v);
    vknmt_strbuf_put(b, tmp, (size_t)k);
}

/* A JSON string literal; bytes >= 0x80 pass through (UTF-8). */
static void sb_json(vknmt_strbuf *b, const char *s)
{
    vknmt_strbuf_put(b, "\"", 1);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            char esc[2] = {'\\', (char)c};
            vknmt_strbuf_put(b, esc, 2);
        } else if (c < 0x20) {
            char esc[8];
            snprintf(esc, sizeof(esc), "\\u%04x", c);
            vknmt_strbuf_put(b, esc, 6);
        } else {
            vknmt_strbuf_put(b, (const char *)&c, 1);
        }
    }
    vknmt_strbuf_put(b, "\"", 1);
}

typedef struct entry_order {
    const st_entry *e;
} entry_order;

static int cmp_entry(const void *a, const void *b)
{
    const st_entry *x = ((const entry_order *)a)->e, *y = ((const entry_order *)b)->e;
    size_t sx = dtypes[x->dtype].size, sy = dtypes[y->dtype].size;
    if (sx != sy)
        return sx > sy ? -1 : 1;
    return strcmp(x->name, y->name);
}

static bool write_all(FILE *f, const void *p, size_t n) { return n == 0 || fwrite(p, 1, n, f) == n; }

/* fsync of the directory holding `path`, so the rename survives a crash. */
static vknmt_status sync_dir(const char *path, char *err, size_t n)
{
    const char *slash = strrchr(path, '/');
    char *dir = slash ? strndup(path, slash == path ? 1 : (size_t)(slash - path)) : strdup(".");
    if (!dir)
        return fail(err, n, VKNMT_ERR_OOM_HOST, "%s: out of memory", path);
    vknmt_status s = VKNMT_OK;
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        s = fail(err, n, VKNMT_ERR_IO, "%s: cannot open its directory %s to sync it: %s", path, dir,
                 strerror(errno));
    } else {
        /* some file systems cannot sync a directory (EINVAL): nothing to do there */
        if (fsync(fd) != 0 && errno != EINVAL)
            s = fail(err, n, VKNMT_ERR_IO, "%s: fsync of directory %s failed: %s", path, dir, strerror(errno));
        close(fd);
    }
    free(dir);
    return s;
}

vknmt_status vknmt_st_writer_save(const vknmt_st_writer *w, const char *path, char *err, size_t n)
{
    static atomic_uint tmp_counter;
    if (!w || !path || !path[0])
        return fail(err, n, VKNMT_ERR_USAGE, "vknmt_st_writer_save: no writer or no path");
    vknmt_status s = VKNMT_OK;
    entry_order *order = malloc((w->count ? w->count : 1) * sizeof(*order));
    vknmt_strbuf h = {0};
    char *tmp = NULL;
    FILE *f = NULL;
    if (!order) {
        s = fail(err, n, VKNMT_ERR_OOM_HOST, "%s: out of memory", path);
        goto free_all;
    }
    for (size_t i = 0; i < w->count; i++)
        order[i].e = &w->entries[i];
    qsort(order, w->count, sizeof(*order), cmp_entry);

    /* the header */
    vknmt_strbuf_puts(&h, "{");
    bool first = true;
    if (w->meta_count) {
        vknmt_strbuf_puts(&h, "\"__metadata__\":{");
        for (size_t i = 0; i < w->meta_count; i++) {
            if (i)
                vknmt_strbuf_puts(&h, ",");
            sb_json(&h, w->meta_keys[i]);
            vknmt_strbuf_puts(&h, ":");
            sb_json(&h, w->meta_values[i]);
        }
        vknmt_strbuf_puts(&h, "}");
        first = false;
    }
    uint64_t off = 0;
    for (size_t i = 0; i < w->count; i++) {
        const st_entry *e = order[i].e;
        if (!first)
            vknmt_strbuf_puts(&h, ",");
        first = false;
        sb_json(&h, e->name);
        vknmt_strbuf_puts(&h, ":{\"dtype\":\"");
        vknmt_strbuf_puts(&h, dtypes[e->dtype].name);
        vknmt_strbuf_puts(&h, "\",\"shape\":[");
        for (uint32_t d = 0; d < e->ndim; d++) {
            if (d)
                vknmt_strbuf_puts(&h, ",");
            sb_u64(&h, e->shape[d]);
        }
        vknmt_strbuf_puts(&h, "],\"data_offsets\":[");
        sb_u64(&h, off);
        vknmt_strbuf_puts(&h, ",");
        sb_u64(&h, off + e->nbytes);
        vknmt_strbuf_puts(&h, "]}");
        off += e->nbytes;
    }
    vknmt_strbuf_puts(&h, "}");
    while (!h.oom && h.len % 8)
        vknmt_strbuf_puts(&h, " ");
    if (h.oom) {
        s = fail(err, n, VKNMT_ERR_OOM_HOST, "%s: out of memory for the header", path);
        goto free_all;
    }
    unsigned char len8[8];
    for (int i = 0; i < 8; i++)
        len8[i] = (unsigned char)((uint64_t)h.len >> (8 * i));

    /* a temporary file beside the target, created exclusively */
    size_t tmp_size = strlen(path) + 64;
    tmp = malloc(tmp_size);
    if (!tmp) {
        s = fail(err, n, VKNMT_ERR_OOM_HOST, "%s: out of memory", path);
        goto free_all;
    }
    int fd = -1;
    for (int attempt = 0; attempt < 100 && fd < 0; attempt++) {
        snprintf(tmp, tmp_size, "%s.tmp.%ld.%u", path, (long)getpid(), atomic_fetch_add(&tmp_counter, 1u));
        fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (fd < 0 && errno != EEXIST)
            break;
    }
    if (fd < 0) {
        s = fail(err, n, VKNMT_ERR_IO, "%s: cannot create temporary file %s: %s", path, tmp, strerror(errno));
        goto free_all;
    }
    f = fdopen(fd, "wb");
    if (!f) {
        s = fail(err, n, VKNMT_ERR_IO, "%s: fdopen failed: %s", tmp, strerror(errno));
        close(fd);
        goto remove_tmp;
    }
    bool ok = write_all(f, len8, 8) && write_all(f, h.p, h.len);
    for (size_t i = 0; ok && i < w->count; i++)
        ok = write_all(f, order[i].e->data, (size_t)order[i].e->nbytes);
    if (!ok || fflush(f) != 0) {
        s = fail(err, n, VKNMT_ERR_IO, "%s: write failed: %s", tmp, strerror(errno));
        goto close_tmp;
    }
    if (fsync(fileno(f)) != 0) {
        s = fail(err, n, VKNMT_ERR_IO, "%s: fsync failed: %s", tmp, strerror(errno));
        goto close_tmp;
    }
    int rc = fclose(f);
    f = NULL;
    if (rc != 0) {
        s = fail(err, n, VKNMT_ERR_IO, "%s: close failed: %s", tmp, strerror(errno));
        goto remove_tmp;
    }
    if (rename(tmp, path) != 0) {
        s = fail(err, n, VKNMT_ERR_IO, "%s: cannot rename %s over it: %s", path, tmp, strerror(errno));
        goto remove_tmp;
    }
    s = sync_dir(path, err, n);
    goto free_all;

close_tmp:
    fclose(f);
remove_tmp:
    unlink(tmp);
free_all:
    free(tmp);
    free(h.p);
    free(order);
    return s;
}
