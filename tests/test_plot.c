/* The paper's figures: alignment heatmaps (PNG, SVG, text) and line plots,
 * read back with Cairo and checked at the geometry the layout functions
 * report. */
#include <cairo.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "plot.h"

/* ---- helpers ---- */

typedef struct tmpdir {
    char dir[256];
} tmpdir;

static bool tmp_make(tmpdir *t)
{
    return th_make_temp_dir(t->dir, sizeof(t->dir), "plot");
}

/* dir/name into buf; the file is removed first (and by tmp_remove). */
static const char *tmp_path(const tmpdir *t, const char *name, char *buf, size_t size)
{
    snprintf(buf, size, "%s/%s", t->dir, name);
    unlink(buf);
    return buf;
}

static const char *const tmp_names[] = {"a.png", "a.svg", "one.png", "big.png", "lines.png", "lines.svg", "x.png"};

static void tmp_remove(const tmpdir *t)
{
    char buf[320];
    for (size_t i = 0; i < sizeof(tmp_names) / sizeof(tmp_names[0]); i++)
        tmp_path(t, tmp_names[i], buf, sizeof(buf));
    rmdir(t->dir);
}

#define WITH_TMPDIR(fn)                                      \
    static void fn(th_env *env, const tmpdir *t);            \
    static void fn##_run(th_env *env)                        \
    {                                                        \
        tmpdir t;                                            \
        CHECK(tmp_make(&t), "cannot make a temp directory"); \
        fn(env, &t);                                         \
        tmp_remove(&t);                                      \
    }

/* True when the file starts with `magic`. */
static bool file_starts_with(const char *path, const char *magic, size_t n)
{
    char buf[64];
    FILE *f = fopen(path, "rb");
    if (!f)
        return false;
    bool ok = n <= sizeof(buf) && fread(buf, 1, n, f) == n && memcmp(buf, magic, n) == 0;
    fclose(f);
    return ok;
}

static bool file_contains(const char *path, const char *needle)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return false;
    static char buf[1 << 20];
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    return strstr(buf, needle) != NULL;
}

static const char png_magic[8] = {(char)0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};

/* An image read back, its pixels as 0xRRGGBB. */
typedef struct image {
    cairo_surface_t *s;
    int w, h, stride;
    const unsigned char *data;
} image;

static bool image_load(const char *path, image *im)
{
    im->s = cairo_image_surface_create_from_png(path);
    if (cairo_surface_status(im->s) != CAIRO_STATUS_SUCCESS) {
        cairo_surface_destroy(im->s);
        im->s = NULL;
        return false;
    }
    cairo_surface_flush(im->s);
    im->w = cairo_image_surface_get_width(im->s);
    im->h = cairo_image_surface_get_height(im->s);
    im->stride = cairo_image_surface_get_stride(im->s);
    im->data = cairo_image_surface_get_data(im->s);
    return im->data != NULL;
}

static uint32_t pixel(const image *im, int x, int y)
{
    if (x < 0 || y < 0 || x >= im->w || y >= im->h)
        return 0xFF000000u; /* outside: matches no colour */
    uint32_t v;
    memcpy(&v, im->data + (size_t)y * im->stride + (size_t)x * 4, 4);
    return v & 0xFFFFFFu;
}

static int channel_diff(uint32_t a, uint32_t b)
{
    int m = 0;
    for (int sh = 0; sh < 24; sh += 8) {
        int d = abs((int)((a >> sh) & 0xFF) - (int)((b >> sh) & 0xFF));
        if (d > m)
            m = d;
    }
    return m;
}

/* True when a pixel within `r` of (x, y) is within `tol` of `rgb`. */
static bool colour_near(const image *im, double x, double y, int r, uint32_t rgb, int tol)
{
    for (int dy = -r; dy <= r; dy++)
        for (int dx = -r; dx <= r; dx++)
            if (channel_diff(pixel(im, (int)x + dx, (int)y + dy), rgb) <= tol)
                return true;
    return false;
}

/* ---- alignment heatmap ---- */

/* "¿Dónde", "está", "¡Sí!" */
static const char *const src3[] = {"\xC2\xBF" "D\xC3\xB3nde", "est\xC3\xA1", "\xC2\xA1" "S\xC3\xAD!"};
static const char *const out2[] = {"Where", "is"};

WITH_TMPDIR(test_alignment_png)
static void test_alignment_png(th_env *env, const tmpdir *t)
{
    (void)env;
    char path[320], err[256] = "";
    const float alpha[2 * 3] = {1, 0, 0, 0.25f, 0.5f, 0.25f};
    tmp_path(t, "a.png", path, sizeof(path));
    vknmt_status s = vknmt_plot_alignment(path, src3, 3, out2, 2, alpha, err, sizeof(err));
    CHECK(s == VKNMT_OK, "plot: %s %s", vknmt_status_name(s), err);
    CHECK(file_starts_with(path, png_magic, 8), "%s is not a PNG", path);

    vknmt_plot_alignment_geometry g;
    s = vknmt_plot_alignment_layout(src3, 3, out2, 2, &g, err, sizeof(err));
    CHECK(s == VKNMT_OK, "layout: %s", err);
    CHECK(g.cell >= 16 && g.grid_x > 2 * g.cell && g.grid_y > 2 * g.cell, "geometry: cell %d grid at %d,%d",
          g.cell, g.grid_x, g.grid_y);
    CHECK(g.width >= g.grid_x + 3 * g.cell && g.height >= g.grid_y + 2 * g.cell, "grid outside %dx%d", g.width,
          g.height);

    image im;
    CHECK(image_load(path, &im), "cannot read %s back", path);
    int w = im.w, h = im.h;
    uint32_t want[6] = {0xFFFFFF, 0x000000, 0x000000, 0x404040, 0x808080, 0x404040};
    uint32_t got[6];
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < 3; j++)
            got[i * 3 + j] = pixel(&im, g.grid_x + j * g.cell + g.cell / 2, g.grid_y + i * g.cell + g.cell / 2);
    /* Text is drawn: some dark pixels left of the grid and above it. */
    int dark_left = 0, dark_top = 0;
    for (int y = g.grid_y; y < g.grid_y + 2 * g.cell; y++)
        for (int x = 0; x < g.grid_x; x++)
            dark_left += pixel(&im, x, y) < 0x404040;
    for (int y = 0; y < g.grid_y; y++)
        for (int x = g.grid_x; x < g.grid_x + 3 * g.cell; x++)
            dark_top += pixel(&im, x, y) < 0x404040;
    /* The margins stay white: nothing runs off the image. */
    bool edges_white = true;
    for (int x = 0; x < im.w; x++)
        edges_white &= pixel(&im, x, 0) == 0xFFFFFF && pixel(&im, x, im.h - 1) == 0xFFFFFF;
    for (int y = 0; y < im.h; y++)
        edges_white &= pixel(&im, 0, y) == 0xFFFFFF && pixel(&im, im.w - 1, y) == 0xFFFFFF;
    cairo_surface_destroy(im.s);
    CHECK(w == g.width && h == g.height, "image %dx%d, layout %dx%d", w, h, g.width, g.height);
    for (int k = 0; k < 6; k++)
        CHECK(channel_diff(got[k], want[k]) <= 1, "cell (%d,%d) is %06X, want %06X", k / 3, k % 3, got[k],
              want[k]);
    CHECK(dark_left > 20 && dark_top > 20, "no text drawn (%d, %d dark pixels)", dark_left, dark_top);
    CHECK(edges_white, "something is drawn on the image's border");
}

WITH_TMPDIR(test_alignment_sizes)
static void test_alignment_sizes(th_env *env, const tmpdir *t)
{
    (void)env;
    char path[320], err[256] = "";
    const char *const one[] = {"x"};
    const float a1 = 1;
    tmp_path(t, "one.png", path, sizeof(path));
    vknmt_status s = vknmt_plot_alignment(path, one, 1, one, 1, &a1, err, sizeof(err));
    CHECK(s == VKNMT_OK, "1x1: %s", err);
    vknmt_plot_alignment_geometry g;
    CHECK(vknmt_plot_alignment_layout(one, 1, one, 1, &g, err, sizeof(err)) == VKNMT_OK, "layout: %s", err);
    image im;
    CHECK(image_load(path, &im), "cannot read %s back", path);
    uint32_t c = pixel(&im, g.grid_x + g.cell / 2, g.grid_y + g.cell / 2);
    bool size_ok = im.w == g.width && im.h == g.height;
    cairo_surface_destroy(im.s);
    CHECK(size_ok && c == 0xFFFFFF, "1x1: size %d, centre %06X", size_ok, c);

    enum { N = 60 };
    static char buf[N][24];
    static const char *words[N];
    static float alpha[N * N];
    for (int i = 0; i < N; i++) {
        snprintf(buf[i], sizeof(buf[i]), i % 7 ? "w%d" : "a-rather-long-word-%d", i);
        words[i] = buf[i];
        for (int j = 0; j < N; j++)
            alpha[i * N + j] = i == j ? 1.0f : 0.0f;
    }
    tmp_path(t, "big.png", path, sizeof(path));
    s = vknmt_plot_alignment(path, words, N, words, N, alpha, err, sizeof(err));
    CHECK(s == VKNMT_OK, "60x60: %s", err);
    CHECK(vknmt_plot_alignment_layout(words, N, words, N, &g, err, sizeof(err)) == VKNMT_OK, "layout: %s", err);
    CHECK(image_load(path, &im), "cannot read %s back", path);
    int bad = 0;
    for (int i = 0; i < N; i += 7)
        for (int j = 0; j < N; j += 3)
            bad += pixel(&im, g.grid_x + j * g.cell + g.cell / 2, g.grid_y + i * g.cell + g.cell / 2) !=
                   (i == j ? 0xFFFFFFu : 0u);
    size_ok = im.w == g.width && im.h == g.height;
    cairo_surface_destroy(im.s);
    CHECK(size_ok, "60x60: image size differs from the layout %dx%d", g.width, g.height);
    CHECK(bad == 0, "60x60: %d cells of the wrong colour", bad);
    CHECK(g.width == g.height, "a square matrix of the same words: %dx%d", g.width, g.height);
}

WITH_TMPDIR(test_alignment_svg)
static void test_alignment_svg(th_env *env, const tmpdir *t)
{
    (void)env;
    char path[320], err[256] = "";
    const float alpha[2 * 3] = {1, 0, 0, 0.25f, 0.5f, 0.25f};
    tmp_path(t, "a.svg", path, sizeof(path));
    vknmt_status s = vknmt_plot_alignment(path, src3, 3, out2, 2, alpha, err, sizeof(err));
    CHECK(s == VKNMT_OK, "svg: %s", err);
    CHECK(file_starts_with(path, "<?xml", 5) && file_contains(path, "<svg") && file_contains(path, "</svg>"),
          "%s is not a whole SVG file", path);
}

/* What vknmt_plot_alignment_text writes, into buf. */
static vknmt_status text_of(const float *alpha, bool unicode, const char *const *src, uint32_t nsrc,
                            const char *const *outw, uint32_t nout, char *buf, size_t size, char *err,
                            size_t err_size)
{
    char *p = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&p, &n);
    if (!f)
        return VKNMT_ERR_IO;
    vknmt_status s = vknmt_plot_alignment_text(f, src, nsrc, outw, nout, alpha, unicode, err, err_size);
    fclose(f);
    snprintf(buf, size, "%s", p ? p : "");
    free(p);
    return s;
}

static void test_alignment_text(th_env *env)
{
    (void)env;
    const char *const src[] = {"la", "casa"};
    const char *const outw[] = {"the", "house", "</s>"};
    const float alpha[3 * 2] = {1, 0, 0.3f, 0.7f, 0.5f, 0.5f};
    char got[1024], err[256] = "";
    vknmt_status s = text_of(alpha, true, src, 2, outw, 3, got, sizeof(got), err, sizeof(err));
    CHECK(s == VKNMT_OK, "unicode: %s", err);
    const char *want = "1 la  2 casa\n"
                       " 1 2\n"
                       "\u2588\u2588   the\n"
                       "\u2591\u2591\u2593\u2593 house\n"
                       "\u2592\u2592\u2592\u2592 </s>\n";
    CHECK(strcmp(got, want) == 0, "unicode:\n%s\nwant:\n%s", got, want);
    s = text_of(alpha, false, src, 2, outw, 3, got, sizeof(got), err, sizeof(err));
    CHECK(s == VKNMT_OK, "ascii: %s", err);
    want = "1 la  2 casa\n"
           " 1 2\n"
           "##   the\n"
           "..** house\n"
           ":::: </s>\n";
    CHECK(strcmp(got, want) == 0, "ascii:\n%s\nwant:\n%s", got, want);

    /* Twelve columns: a tens line above the units line. */
    const char *const w12[12] = {"a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l"};
    float a12[12] = {0};
    a12[11] = 1;
    s = text_of(a12, false, w12, 12, outw, 1, got, sizeof(got), err, sizeof(err));
    CHECK(s == VKNMT_OK, "12 columns: %s", err);
    want = "1 a  2 b  3 c  4 d  5 e  6 f  7 g  8 h  9 i  10 j  11 k  12 l\n"
           "                   1 1 1\n"
           " 1 2 3 4 5 6 7 8 9 0 1 2\n"
           "                      ## the\n";
    CHECK(strcmp(got, want) == 0, "12 columns:\n%s\nwant:\n%s", got, want);
}

WITH_TMPDIR(test_plot_errors)
static void test_plot_errors(th_env *env, const tmpdir *t)
{
    (void)env;
    char path[320], err[256] = "";
    const float alpha[2 * 3] = {1, 0, 0, 0.25f, 0.5f, 0.25f};
    const char *bad_path = "/nonexistent-vknmt-dir/plot.png";
    vknmt_status s = vknmt_plot_alignment(bad_path, src3, 3, out2, 2, alpha, err, sizeof(err));
    CHECK(s == VKNMT_ERR_IO && strstr(err, bad_path), "unwritable: %s \"%s\"", vknmt_status_name(s), err);
    double v[3] = {1, 2, 3};
    const char *const names[] = {"s"};
    err[0] = '\0';
    s = vknmt_plot_lines("/nonexistent-vknmt-dir/l.svg", "t", NULL, NULL, NULL, 3, names, 1, v, err, sizeof(err));
    CHECK(s == VKNMT_ERR_IO && strstr(err, "l.svg"), "unwritable svg: %s \"%s\"", vknmt_status_name(s), err);

    tmp_path(t, "x.png", path, sizeof(path));
    const char *const holes[] = {"a", NULL, "c"};
    err[0] = '\0';
    s = vknmt_plot_alignment(path, holes, 3, out2, 2, alpha, err, sizeof(err));
    CHECK(s == VKNMT_ERR_USAGE && strstr(err, "x.png") && strstr(err, "source word 2"), "NULL word: %s \"%s\"",
          vknmt_status_name(s), err);
    s = vknmt_plot_alignment(path, src3, 0, out2, 2, alpha, err, sizeof(err));
    CHECK(s == VKNMT_ERR_USAGE, "no source words: %s", vknmt_status_name(s));
    s = vknmt_plot_alignment(path, src3, 3, out2, 2, NULL, err, sizeof(err));
    CHECK(s == VKNMT_ERR_USAGE, "NULL weights: %s", vknmt_status_name(s));
    s = vknmt_plot_alignment(NULL, src3, 3, out2, 2, alpha, err, sizeof(err));
    CHECK(s == VKNMT_ERR_USAGE, "NULL path: %s", vknmt_status_name(s));
    const float nan_alpha[2 * 3] = {1, 0, 0, NAN, 0.5f, 0.5f};
    s = vknmt_plot_alignment(path, src3, 3, out2, 2, nan_alpha, err, sizeof(err));
    CHECK(s == VKNMT_ERR_INPUT && strstr(err, "output 2, source 1"), "NaN weight: %s \"%s\"", vknmt_status_name(s),
          err);
    const char *const not_utf8[] = {"ok", "bad\xC3(", "ok"};
    s = vknmt_plot_alignment(path, not_utf8, 3, out2, 2, alpha, err, sizeof(err));
    CHECK(s == VKNMT_ERR_INPUT && strstr(err, "source word 2"), "invalid UTF-8: %s \"%s\"", vknmt_status_name(s),
          err);
    CHECK(access(path, F_OK) != 0, "a refused plot left %s behind", path);
    s = vknmt_plot_alignment_text(stdout, src3, 3, holes, 3, alpha, true, err, sizeof(err));
    CHECK(s == VKNMT_ERR_USAGE, "text with a NULL word: %s", vknmt_status_name(s));
    s = vknmt_plot_lines(path, "t", NULL, NULL, NULL, 0, names, 1, v, err, sizeof(err));
    CHECK(s == VKNMT_ERR_USAGE, "no points: %s", vknmt_status_name(s));
    s = vknmt_plot_lines(path, "t", NULL, NULL, NULL, 3, NULL, 1, v, err, sizeof(err));
    CHECK(s == VKNMT_ERR_USAGE, "no series names: %s", vknmt_status_name(s));
}

/* ---- line plot ---- */

WITH_TMPDIR(test_lines)
static void test_lines(th_env *env, const tmpdir *t)
{
    (void)env;
    char path[320], err[256] = "";
    const char *const xt[] = {"0-10", "10-20", "20-30", "30-40", "40-50"};
    const char *const names[] = {"RNNsearch-50", "RNNenc-50"};
    /* Series 0 misses point 2; series 1 stays far below it. */
    const double v[2 * 5] = {10, 20, NAN, 30, 25, 2, 3, 2, 1, 2};
    tmp_path(t, "lines.png", path, sizeof(path));
    vknmt_status s = vknmt_plot_lines(path, "BLEU by length", "Sentence length", "BLEU score", xt, 5, names, 2, v,
                                      err, sizeof(err));
    CHECK(s == VKNMT_OK, "lines: %s", err);
    CHECK(file_starts_with(path, png_magic, 8), "%s is not a PNG", path);
    vknmt_plot_lines_geometry g;
    s = vknmt_plot_lines_layout("BLEU by length", "Sentence length", "BLEU score", xt, 5, names, 2, v, &g, err,
                                sizeof(err));
    CHECK(s == VKNMT_OK, "layout: %s", err);
    CHECK(g.ymin == 0 && g.ymax >= 30 && g.ymax < 40, "y range %g..%g", g.ymin, g.ymax);
    double steps = g.ymax / g.ystep;
    CHECK(fabs(steps - round(steps)) < 1e-9 && steps >= 3 && steps <= 12, "y step %g to %g", g.ystep, g.ymax);
    CHECK(g.plot_x > 0 && g.plot_y > 0 && g.plot_x + g.plot_w < g.width && g.plot_y + g.plot_h < g.height,
          "plot area %d,%d %dx%d outside %dx%d", g.plot_x, g.plot_y, g.plot_w, g.plot_h, g.width, g.height);

    image im;
    CHECK(image_load(path, &im), "cannot read %s back", path);
#define PX(i) (g.plot_x + ((i) + 0.5) * g.plot_w / 5)
#define PY(val) (g.plot_y + g.plot_h * (g.ymax - (val)) / (g.ymax - g.ymin))
    const uint32_t blue = 0x1F77B4; /* series 0's colour */
    bool marker0 = colour_near(&im, PX(0), PY(10), 1, blue, 8);
    bool line01 = colour_near(&im, (PX(0) + PX(1)) / 2, (PY(10) + PY(20)) / 2, 1, blue, 40);
    bool line34 = colour_near(&im, (PX(3) + PX(4)) / 2, (PY(30) + PY(25)) / 2, 1, blue, 40);
    bool gap = colour_near(&im, PX(2), PY(25), 4, blue, 60) || colour_near(&im, (PX(1) + PX(2)) / 2,
                                                                          (PY(20) + PY(22.5)) / 2, 4, blue, 60);
    bool size_ok = im.w == g.width && im.h == g.height;
    cairo_surface_destroy(im.s);
#undef PX
#undef PY
    CHECK(size_ok, "image size differs from the layout %dx%d", g.width, g.height);
    CHECK(marker0 && line01 && line34, "series 0 not drawn: marker %d, lines %d %d", marker0, line01, line34);
    CHECK(!gap, "the NaN point did not break the line");

    tmp_path(t, "lines.svg", path, sizeof(path));
    s = vknmt_plot_lines(path, NULL, NULL, NULL, NULL, 5, names, 2, v, err, sizeof(err));
    CHECK(s == VKNMT_OK, "lines svg: %s", err);
    CHECK(file_starts_with(path, "<?xml", 5) && file_contains(path, "</svg>"), "%s is not a whole SVG", path);

    /* All missing: still a plot, y from 0 to 1. */
    const double none[2] = {NAN, NAN};
    s = vknmt_plot_lines_layout(NULL, NULL, NULL, NULL, 2, names, 1, none, &g, err, sizeof(err));
    CHECK(s == VKNMT_OK && g.ymin == 0 && g.ymax == 1, "all NaN: %s %g..%g", err, g.ymin, g.ymax);
}

void th_register_plot(void)
{
    th_add("plot", "alignment_png", test_alignment_png_run);
    th_add("plot", "alignment_sizes", test_alignment_sizes_run);
    th_add("plot", "alignment_svg", test_alignment_svg_run);
    th_add("plot", "alignment_text", test_alignment_text);
    th_add("plot", "errors", test_plot_errors_run);
    th_add("plot", "lines", test_lines_run);
}
