/* safetensors: round trips, the shared fixtures, and refusal of broken files
 * (every refusal must be an error status with a message, never a crash). */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "ref_model.h"
#include "safetensors.h"

static int count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return -1;
    int k = 0;
    for (struct dirent *e; (e = readdir(d));)
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
            k++;
    closedir(d);
    return k;
}

static bool write_file(const char *path, const void *bytes, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return false;
    bool ok = fwrite(bytes, 1, n, f) == n;
    return fclose(f) == 0 && ok;
}

/* ----------------------------------------------------------------- round trip */

static const char *meta_odd = "quote \" backslash \\ newline \n tab \t unicode \xc3\xa9\xe2\x82\xac";

static vknmt_status build_writer(vknmt_st_writer **out)
{
    vknmt_st_writer *w;
    vknmt_status s = vknmt_st_writer_create(&w);
    if (s)
        return s;
    const double f64[6] = {1.5, -2.25, 3e300, -0.0, 1e-310, 42};
    const float f32[5] = {0.5f, -1.0f, 3.25f, 1e30f, -7.0f};
    const int32_t i32[4] = {-2147483647 - 1, -1, 0, 2147483647};
    const int64_t i64[3] = {-5, 1ll << 40, 7};
    const uint8_t u8[4] = {0, 1, 200, 255};
    const uint8_t bl[2] = {1, 0};
    const uint16_t f16[3] = {0x3c00 /* 1 */, 0xc000 /* -2 */, 0x0001 /* 2^-24 */};
    const uint16_t bf16[2] = {0x3f80 /* 1 */, 0xc040 /* -3 */};
    const float scalar = 9.0f;
    const uint64_t s23[2] = {2, 3}, s5[1] = {5}, s22[2] = {2, 2}, s3[1] = {3}, s4[1] = {4}, s2[1] = {2},
                   s03[2] = {0, 3};
    if ((s = vknmt_st_writer_add(w, "w.f64", VKNMT_ST_F64, 2, s23, f64)) ||
        (s = vknmt_st_writer_add(w, "w.f32", VKNMT_ST_F32, 1, s5, f32)) ||
        (s = vknmt_st_writer_add(w, "i32", VKNMT_ST_I32, 2, s22, i32)) ||
        (s = vknmt_st_writer_add(w, "i64", VKNMT_ST_I64, 1, s3, i64)) ||
        (s = vknmt_st_writer_add(w, "u8", VKNMT_ST_U8, 1, s4, u8)) ||
        (s = vknmt_st_writer_add(w, "flags", VKNMT_ST_BOOL, 1, s2, bl)) ||
        (s = vknmt_st_writer_add(w, "half", VKNMT_ST_F16, 1, s3, f16)) ||
        (s = vknmt_st_writer_add(w, "brain", VKNMT_ST_BF16, 1, s2, bf16)) ||
        (s = vknmt_st_writer_add(w, "scalar", VKNMT_ST_F32, 0, NULL, &scalar)) ||
        (s = vknmt_st_writer_add(w, "empty", VKNMT_ST_F32, 2, s03, NULL)) ||
        (s = vknmt_st_writer_add(w, "name with \"quotes\"", VKNMT_ST_U8, 1, s2, u8)) ||
        (s = vknmt_st_writer_set_metadata(w, "format", "test")) ||
        (s = vknmt_st_writer_set_metadata(w, "odd", "replaced below")) ||
        (s = vknmt_st_writer_set_metadata(w, "odd", meta_odd))) {
        vknmt_st_writer_destroy(w);
        return s;
    }
    *out = w;
    return VKNMT_OK;
}

static void test_roundtrip(th_env *env)
{
    (void)env;
    char dir[512], path[600], err[512];
    CHECK(th_make_temp_dir(dir, sizeof(dir), "st"), "mkdtemp failed");
    snprintf(path, sizeof(path), "%s/rt.safetensors", dir);
    vknmt_st_writer *w = NULL;
    vknmt_st *st = NULL;
    unsigned char *bytes = NULL;
    vknmt_status s = build_writer(&w);
    if (s) {
        th_fail_at(__FILE__, __LINE__, "building the writer: %s", vknmt_status_name(s));
        goto done;
    }
    /* refusals of the writer */
    const uint64_t one[1] = {1};
    const float x = 1;
    if (vknmt_st_writer_add(w, "w.f32", VKNMT_ST_F32, 1, one, &x) != VKNMT_ERR_USAGE ||
        !vknmt_st_writer_errmsg(w)[0] ||
        vknmt_st_writer_add(w, "__metadata__", VKNMT_ST_F32, 1, one, &x) != VKNMT_ERR_USAGE ||
        vknmt_st_writer_add(w, "", VKNMT_ST_F32, 1, one, &x) != VKNMT_ERR_USAGE ||
        vknmt_st_writer_add(w, "nodata", VKNMT_ST_F32, 1, one, NULL) != VKNMT_ERR_USAGE ||
        vknmt_st_writer_add(w, "baddtype", (vknmt_st_dtype)99, 1, one, &x) != VKNMT_ERR_USAGE) {
        th_fail_at(__FILE__, __LINE__, "the writer accepted a bad tensor");
        goto done;
    }
    /* twice: the second save replaces the first atomically */
    for (int k = 0; k < 2; k++) {
        s = vknmt_st_writer_save(w, path, err, sizeof(err));
        if (s) {
            th_fail_at(__FILE__, __LINE__, "save: %s", err);
            goto done;
        }
    }
    if (count_entries(dir) != 1) {
        th_fail_at(__FILE__, __LINE__, "save left %d entries in its directory (want 1)", count_entries(dir));
        goto done;
    }
    size_t size;
    bytes = (unsigned char *)th_read_file(path, &size);
    if (!bytes || size < 8) {
        th_fail_at(__FILE__, __LINE__, "cannot read back %s", path);
        goto done;
    }
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--)
        hlen = hlen << 8 | bytes[i];
    if (hlen == 0 || hlen % 8 || bytes[8] != '{' || (bytes[8 + hlen - 1] != ' ' && bytes[8 + hlen - 1] != '}')) {
        th_fail_at(__FILE__, __LINE__, "header of %llu bytes is not padded to 8", (unsigned long long)hlen);
        goto done;
    }

    s = vknmt_st_open(path, &st, err, sizeof(err));
    if (s) {
        th_fail_at(__FILE__, __LINE__, "open: %s", err);
        goto done;
    }
    if (vknmt_st_count(st) != 11 || vknmt_st_metadata_count(st) != 2 ||
        strcmp(vknmt_st_metadata(st, "format"), "test") != 0 || strcmp(vknmt_st_metadata(st, "odd"), meta_odd) != 0 ||
        vknmt_st_metadata(st, "nope") || vknmt_st_find(st, "nope") || vknmt_st_at(st, 11) ||
        vknmt_st_name_at(st, 11)) {
        th_fail_at(__FILE__, __LINE__, "wrong tensors or metadata read back");
        goto done;
    }
    /* every tensor aligned to its element size inside the file, in offset order */
    const unsigned char *base = NULL;
    for (size_t i = 0; i < vknmt_st_count(st); i++) {
        const vknmt_st_tensor *t = vknmt_st_at(st, i);
        if (!base)
            base = (const unsigned char *)t->data - (8 + hlen);
        size_t off = (size_t)((const unsigned char *)t->data - base);
        if (strcmp(vknmt_st_name_at(st, i), t->name) || off % vknmt_st_dtype_size(t->dtype)) {
            th_fail_at(__FILE__, __LINE__, "tensor %s at file offset %zu is misaligned", t->name, off);
            goto done;
        }
    }
    const vknmt_st_tensor *tf64 = vknmt_st_find(st, "w.f64"), *ti32 = vknmt_st_find(st, "i32"),
                          *ti64 = vknmt_st_find(st, "i64"), *thalf = vknmt_st_find(st, "half"),
                          *tbf = vknmt_st_find(st, "brain"), *tsc = vknmt_st_find(st, "scalar"),
                          *tem = vknmt_st_find(st, "empty"), *tu8 = vknmt_st_find(st, "u8"),
                          *tfl = vknmt_st_find(st, "flags"), *tq = vknmt_st_find(st, "name with \"quotes\"");
    if (!tf64 || !ti32 || !ti64 || !thalf || !tbf || !tsc || !tem || !tu8 || !tfl || !tq ||
        tf64->dtype != VKNMT_ST_F64 || tf64->ndim != 2 || tf64->shape[0] != 2 || tf64->shape[1] != 3 ||
        tf64->numel != 6 || tf64->nbytes != 48 || tsc->ndim != 0 || tsc->numel != 1 || tem->numel != 0 ||
        tem->nbytes != 0 || tem->shape[1] != 3 || tbf->dtype != VKNMT_ST_BF16) {
        th_fail_at(__FILE__, __LINE__, "tensor descriptions differ after the round trip");
        goto done;
    }
    double d[8];
    float f[8];
    int32_t iv[8];
    const double f64[6] = {1.5, -2.25, 3e300, -0.0, 1e-310, 42};
    bool ok = vknmt_st_to_f64(tf64, d, 8, err, sizeof(err)) == VKNMT_OK && memcmp(d, f64, sizeof(f64)) == 0;
    ok = ok && vknmt_st_to_f64(ti32, d, 4, err, sizeof(err)) == VKNMT_OK && d[0] == -2147483648.0 &&
         d[3] == 2147483647.0;
    ok = ok && vknmt_st_to_f64(ti64, d, 3, err, sizeof(err)) == VKNMT_OK && d[1] == 1099511627776.0;
    ok = ok && vknmt_st_to_f32(thalf, f, 3, err, sizeof(err)) == VKNMT_OK && f[0] == 1 && f[1] == -2 &&
         f[2] == 0x1p-24f;
    ok = ok && vknmt_st_to_f32(tbf, f, 2, err, sizeof(err)) == VKNMT_OK && f[0] == 1 && f[1] == -3;
    ok = ok && vknmt_st_to_f32(tsc, f, 1, err, sizeof(err)) == VKNMT_OK && f[0] == 9;
    ok = ok && vknmt_st_to_f32(tem, NULL, 0, err, sizeof(err)) == VKNMT_OK;
    ok = ok && vknmt_st_to_i32(ti64, iv, 3, err, sizeof(err)) == VKNMT_ERR_INPUT; /* 2^40 */
    ok = ok && vknmt_st_to_i32(tu8, iv, 4, err, sizeof(err)) == VKNMT_OK && iv[2] == 200 && iv[3] == 255;
    ok = ok && vknmt_st_to_i32(tfl, iv, 2, err, sizeof(err)) == VKNMT_OK && iv[0] == 1 && iv[1] == 0;
    ok = ok && vknmt_st_to_i32(ti32, iv, 4, err, sizeof(err)) == VKNMT_OK && iv[0] == INT32_MIN;
    ok = ok && vknmt_st_to_i32(tbf, iv, 2, err, sizeof(err)) == VKNMT_OK && iv[1] == -3;  /* integral floats */
    ok = ok && vknmt_st_to_i32(tf64, iv, 6, err, sizeof(err)) == VKNMT_ERR_INPUT;         /* 1.5 */
    ok = ok && vknmt_st_to_f32(tf64, f, 5, err, sizeof(err)) == VKNMT_ERR_SHAPE;          /* room for 5 of 6 */
    if (!ok) {
        th_fail_at(__FILE__, __LINE__, "a conversion gave the wrong values or status (last message: %s)", err);
        goto done;
    }
    /* a save into a missing directory fails cleanly */
    char bad[700];
    snprintf(bad, sizeof(bad), "%s/no/such/dir/x.safetensors", dir);
    err[0] = '\0';
    s = vknmt_st_writer_save(w, bad, err, sizeof(err));
    if (s != VKNMT_ERR_IO || !strstr(err, bad))
        th_fail_at(__FILE__, __LINE__, "save into a missing directory: %s (%s)", vknmt_status_name(s), err);

done:
    free(bytes);
    vknmt_st_destroy(st);
    vknmt_st_writer_destroy(w);
    th_remove_dir(dir);
}

/* ------------------------------------------------------------------ fixtures */

static void test_fixtures(th_env *env)
{
    (void)env;
    static const char *names[] = {"tiny-maxout-additive", "tiny-linear-additive", "tiny-maxout-none"};
    char path[1024], err[512], file[128];
    for (int v = 0; v < 3 && !th_failed(); v++) {
        vknmt_st *p = NULL, *b = NULL, *g = NULL;
        snprintf(file, sizeof(file), "%s.params.safetensors", names[v]);
        CHECK(ref_fixture_path(file, path, sizeof(path)) == VKNMT_OK, "path too long");
        if (vknmt_st_open(path, &p, err, sizeof(err))) {
            th_fail_at(__FILE__, __LINE__, "%s", err);
            break;
        }
        snprintf(file, sizeof(file), "%s.batch.safetensors", names[v]);
        ref_fixture_path(file, path, sizeof(path));
        if (vknmt_st_open(path, &b, err, sizeof(err))) {
            th_fail_at(__FILE__, __LINE__, "%s", err);
            goto next;
        }
        snprintf(file, sizeof(file), "%s.grads.safetensors", names[v]);
        ref_fixture_path(file, path, sizeof(path));
        if (vknmt_st_open(path, &g, err, sizeof(err))) {
            th_fail_at(__FILE__, __LINE__, "%s", err);
            goto next;
        }
        const vknmt_st_tensor *emb = vknmt_st_find(p, "enc.emb"), *src = vknmt_st_find(b, "src"),
                              *tl = vknmt_st_find(b, "tgt_len"), *ntok = vknmt_st_find(g, "ntok"),
                              *loss = vknmt_st_find(g, "loss");
        const char *fmt = vknmt_st_metadata(p, "format"), *cfg = vknmt_st_metadata(p, "config");
        bool attn = v != 2;
        if (!emb || emb->dtype != VKNMT_ST_F32 || emb->ndim != 2 || emb->shape[0] != 64 || emb->shape[1] != 16 ||
            !fmt || strcmp(fmt, "rnnsearch") || !cfg || !strstr(cfg, "\"n\": 32") ||
            (vknmt_st_find(p, "att.W") != NULL) != attn || vknmt_st_count(p) != (v == 0 ? 24u : 20u) ||
            !src || src->dtype != VKNMT_ST_I32 || src->ndim != 2 || src->shape[0] != 7 || !tl || !ntok ||
            ntok->dtype != VKNMT_ST_F64 || !loss || loss->numel != 1) {
            th_fail_at(__FILE__, __LINE__, "%s: unexpected tensors or metadata", names[v]);
            goto next;
        }
        /* ntok of the gradient file = the batch's summed target lengths */
        int32_t lens[7];
        double nt, l;
        if (vknmt_st_to_i32(tl, lens, 7, err, sizeof(err)) || vknmt_st_to_f64(ntok, &nt, 1, err, sizeof(err)) ||
            vknmt_st_to_f64(loss, &l, 1, err, sizeof(err))) {
            th_fail_at(__FILE__, __LINE__, "%s", err);
            goto next;
        }
        int sum = 0;
        for (int i = 0; i < 7; i++)
            sum += lens[i];
        if (nt != sum || !(l > 0 && l < 1e3))
            th_fail_at(__FILE__, __LINE__, "%s: ntok %g vs summed tgt_len %d, loss %g", names[v], nt, sum, l);
    next:
        vknmt_st_destroy(p);
        vknmt_st_destroy(b);
        vknmt_st_destroy(g);
    }
}

/* ------------------------------------------------------------------ refusals */

/* [u64 len][header][data] in memory; *n gets the size. */
static unsigned char *raw(const char *header, const void *data, size_t dn, size_t *n)
{
    size_t hl = strlen(header);
    unsigned char *b = malloc(8 + hl + dn + 1);
    if (!b)
        return NULL;
    for (int i = 0; i < 8; i++)
        b[i] = (unsigned char)((uint64_t)hl >> (8 * i));
    memcpy(b + 8, header, hl);
    if (dn)
        memcpy(b + 8 + hl, data, dn);
    *n = 8 + hl + dn;
    return b;
}

/* The status of opening these bytes, from memory and from a file. */
static vknmt_status open_both(const char *dir, const unsigned char *b, size_t n, char *err, size_t en)
{
    vknmt_st *st = (vknmt_st *)1;
    vknmt_status s1 = vknmt_st_open_memory(b, n, "case", &st, err, en);
    if (s1 == VKNMT_OK)
        vknmt_st_destroy(st);
    else if (st != NULL)
        return VKNMT_ERR_USAGE; /* *out must be NULL after a failure */
    char path[700];
    snprintf(path, sizeof(path), "%s/case.safetensors", dir);
    if (!write_file(path, b, n))
        return VKNMT_ERR_USAGE;
    st = NULL;
    vknmt_status s2 = vknmt_st_open(path, &st, err, en);
    vknmt_st_destroy(st);
    unlink(path);
    if (s2 != VKNMT_OK && !strstr(err, path))
        return VKNMT_ERR_USAGE; /* the message must name the file */
    return s1 == s2 ? s1 : VKNMT_ERR_USAGE;
}

typedef struct bad_case {
    const char *what, *want, *header; /* want: a part of the message */
    size_t data_bytes;
} bad_case;

static void test_refusals(th_env *env)
{
    (void)env;
    char dir[512], err[512];
    CHECK(th_make_temp_dir(dir, sizeof(dir), "st"), "mkdtemp failed");
    static const bad_case cases[] = {
        {"bad JSON", "not valid JSON", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}", 4},
        {"bad JSON 2", "not valid JSON", "{\"a\" \"F32\"}", 0},
        {"garbage after JSON", "after its JSON", "{} x", 0},
        {"not an object", "start with '{'", "[1,2]   ", 0},
        {"entry not an object", "not an object", "{\"a\":5}", 0},
        {"no dtype", "dtype", "{\"a\":{\"shape\":[1],\"data_offsets\":[0,4]}}", 4},
        {"unknown dtype", "unknown dtype \"F8\"", "{\"a\":{\"dtype\":\"F8\",\"shape\":[1],\"data_offsets\":[0,1]}}", 1},
        {"dtype not a string", "dtype", "{\"a\":{\"dtype\":4,\"shape\":[1],\"data_offsets\":[0,4]}}", 4},
        {"offsets out of range", "past the end", "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 4},
        {"offsets far out of range", "past the end",
         "{\"a\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[99,99]}}", 4},
        {"offsets reversed", "end before", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,0]}}", 4},
        {"offsets negative", "data_offsets", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[-4,0]}}", 4},
        {"offsets not a pair", "data_offsets", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4,8]}}", 8},
        {"offsets huge", "data_offsets", "{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[1e300,1e300]}}", 4},
        {"overlapping tensors", "overlap",
         "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
         "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
         12},
        {"identical ranges", "overlap",
         "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
         "\"b\":{\"dtype\":\"I32\",\"shape\":[2],\"data_offsets\":[0,8]}}",
         8},
        {"shape/size mismatch", "needs 12 bytes",
         "{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 8},
        {"shape/size mismatch 2", "needs 32 bytes",
         "{\"a\":{\"dtype\":\"F64\",\"shape\":[2,2],\"data_offsets\":[0,16]}}", 32},
        {"negative shape", "shape[0]", "{\"a\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", 4},
        {"fractional shape", "shape[0]", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,4]}}", 4},
        {"shape not a list", "shape", "{\"a\":{\"dtype\":\"F32\",\"shape\":\"1\",\"data_offsets\":[0,4]}}", 4},
        {"shape overflow", "too large",
         "{\"a\":{\"dtype\":\"F64\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,8]}}", 8},
        {"too many dims", "dimensions",
         "{\"a\":{\"dtype\":\"U8\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,1]}}", 1},
        {"duplicate name", "twice",
         "{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]},"
         "\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[1,2]}}",
         2},
        {"metadata not strings", "not a string", "{\"__metadata__\":{\"k\":1}}", 0},
        {"metadata not an object", "not an object", "{\"__metadata__\":\"x\"}", 0},
        {"empty header", "start with '{'", "", 0},
    };
    unsigned char *valid = NULL;
    vknmt_st_writer *w = NULL;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        unsigned char data[64] = {0};
        size_t n;
        unsigned char *b = raw(cases[i].header, data, cases[i].data_bytes, &n);
        if (!b) {
            th_fail_at(__FILE__, __LINE__, "out of memory");
            goto done;
        }
        err[0] = '\0';
        vknmt_status s = open_both(dir, b, n, err, sizeof(err));
        free(b);
        if (getenv("VKNMT_TEST_VERBOSE"))
            printf("  %-26s -> %s\n", cases[i].what, err);
        if (s != VKNMT_ERR_INPUT || !strstr(err, cases[i].want)) {
            th_fail_at(__FILE__, __LINE__, "%s: got %s (%s), want a refusal saying '%s'", cases[i].what,
                       vknmt_status_name(s), err, cases[i].want);
            goto done;
        }
    }
    /* the same headers made valid are accepted (so the refusals above are for the stated reason) */
    {
        size_t n;
        unsigned char data[12] = {0};
        unsigned char *b = raw("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                               "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]}}   ",
                               data, 12, &n);
        vknmt_status s = b ? open_both(dir, b, n, err, sizeof(err)) : VKNMT_ERR_OOM_HOST;
        free(b);
        if (s != VKNMT_OK) {
            th_fail_at(__FILE__, __LINE__, "a valid hand-made file was refused: %s", err);
            goto done;
        }
    }

    /* a missing file, a directory */
    vknmt_st *st = (vknmt_st *)1;
    char path[700];
    snprintf(path, sizeof(path), "%s/missing.safetensors", dir);
    if (vknmt_st_open(path, &st, err, sizeof(err)) != VKNMT_ERR_IO || st || !strstr(err, path) ||
        vknmt_st_open(dir, &st, err, sizeof(err)) != VKNMT_ERR_IO || st) {
        th_fail_at(__FILE__, __LINE__, "a missing file or a directory was not refused with an I/O error");
        goto done;
    }

    /* a real file, truncated at every length, and its header length corrupted */
    size_t vn;
    if (build_writer(&w) != VKNMT_OK) {
        th_fail_at(__FILE__, __LINE__, "writer");
        goto done;
    }
    snprintf(path, sizeof(path), "%s/valid.safetensors", dir);
    if (vknmt_st_writer_save(w, path, err, sizeof(err)) != VKNMT_OK ||
        !(valid = (unsigned char *)th_read_file(path, &vn))) {
        th_fail_at(__FILE__, __LINE__, "save: %s", err);
        goto done;
    }
    unlink(path);
    for (size_t cut = 0; cut < vn; cut++) {
        vknmt_status s = vknmt_st_open_memory(valid, cut, "truncated", &st, err, sizeof(err));
        vknmt_st_destroy(st);
        if (s != VKNMT_ERR_INPUT) {
            th_fail_at(__FILE__, __LINE__, "file cut to %zu of %zu bytes: %s", cut, vn, vknmt_status_name(s));
            goto done;
        }
    }
    if (open_both(dir, valid, vn / 2, err, sizeof(err)) != VKNMT_ERR_INPUT || !strstr(err, "truncated")) {
        th_fail_at(__FILE__, __LINE__, "truncated file on disk: %s", err);
        goto done;
    }
    unsigned char saved[8];
    memcpy(saved, valid, 8);
    const uint64_t lens[] = {vn - 8 + 1, UINT64_MAX, 1ull << 40};
    for (int k = 0; k < 3; k++) {
        for (int i = 0; i < 8; i++)
            valid[i] = (unsigned char)(lens[k] >> (8 * i));
        if (open_both(dir, valid, vn, err, sizeof(err)) != VKNMT_ERR_INPUT || !strstr(err, "header length")) {
            th_fail_at(__FILE__, __LINE__, "header length %llu past the end: %s", (unsigned long long)lens[k], err);
            goto done;
        }
    }
    memcpy(valid, saved, 8);

    /* random damage: any answer but a crash, and an error always has a message */
    for (int iter = 0; iter < 3000; iter++) {
        unsigned char *b = malloc(vn);
        if (!b)
            break;
        memcpy(b, valid, vn);
        int flips = 1 + (int)(th_rand_u64() % 4);
        for (int f = 0; f < flips; f++) {
            size_t at = (size_t)(th_rand_u64() % (iter % 2 ? vn : 8 + 300)); /* half the time in the header */
            b[at % vn] = (unsigned char)th_rand_u64();
        }
        err[0] = '\0';
        vknmt_status s = vknmt_st_open_memory(b, vn, "damaged", &st, err, sizeof(err));
        free(b);
        if (s == VKNMT_OK) {
            vknmt_st_destroy(st);
        } else if (s != VKNMT_ERR_INPUT || !err[0]) {
            th_fail_at(__FILE__, __LINE__, "damaged file: %s (%s)", vknmt_status_name(s), err);
            goto done;
        }
    }

done:
    free(valid);
    vknmt_st_writer_destroy(w);
    th_remove_dir(dir);
}

void th_register_safetensors(void)
{
    th_add("safetensors", "roundtrip", test_roundtrip);
    th_add("safetensors", "fixtures", test_fixtures);
    th_add("safetensors", "refusals", test_refusals);
}
