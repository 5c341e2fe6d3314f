/* The paper's figures with Cairo (see plot.h). */
#include "plot.h"
#include "strbuf.h"

#include <cairo-svg.h>
#include <cairo.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define PLOT_FONT "DejaVu Sans"
#define PLOT_PI 3.14159265358979323846
#define PLOT_MAX_SIDE 32767 /* Cairo's image surfaces stop there */
#define PLOT_MAX_WORDS 4096 /* keeps every size computation far from overflow */
#define PAD 6

/* ---- text measurement ---- */

typedef struct font {
    double size;
    bool bold;
    double ascent, descent; /* of the font, so every line shares a baseline */
} font;

static void font_use(cairo_t *cr, font *f)
{
    cairo_select_font_face(cr, PLOT_FONT, CAIRO_FONT_SLANT_NORMAL,
                           f->bold ? CAIRO_FONT_WEIGHT_BOLD : CAIRO_FONT_WEIGHT_NORMAL);
    cairo_set_font_size(cr, f->size);
    cairo_font_extents_t fe;
    cairo_font_extents(cr, &fe);
    f->ascent = fe.ascent;
    f->descent = fe.descent;
}

static double font_height(const font *f) { return ceil(f->ascent + f->descent); }

/* The ink of `s` along its baseline: from min(0, x_bearing) to
 * x_bearing + width, as a length; *lead is -min(0, x_bearing), the offset of
 * the origin from the ink's start. Returns a negative value when Cairo
 * refused the string (not UTF-8). */
static double text_span(cairo_t *cr, const char *s, double *lead)
{
    cairo_text_extents_t te;
    cairo_text_extents(cr, s, &te);
    if (cairo_status(cr) != CAIRO_STATUS_SUCCESS)
        return -1;
    double start = te.x_bearing < 0 ? te.x_bearing : 0;
    double end = te.x_bearing + te.width;
    if (te.x_advance > end)
        end = te.x_advance;
    if (lead)
        *lead = -start;
    return end - start;
}

/* Draws `s` with its ink starting at x (align 0), centred on x (0.5) or
 * ending at x (1), its line box centred vertically on cy. */
static void text_at(cairo_t *cr, const font *f, const char *s, double x, double cy, double align)
{
    double lead;
    double w = text_span(cr, s, &lead);
    if (w < 0)
        return;
    cairo_move_to(cr, x - align * w + lead, cy + (f->ascent - f->descent) / 2);
    cairo_show_text(cr, s);
}

/* The same, turned 90 degrees counter-clockwise (reading upwards): the ink
 * starts at y (align 0) and goes up, its line box centred on cx. */
static void text_up_at(cairo_t *cr, const font *f, const char *s, double cx, double y, double align)
{
    double lead;
    double w = text_span(cr, s, &lead);
    if (w < 0)
        return;
    cairo_save(cr);
    cairo_translate(cr, cx + (f->ascent - f->descent) / 2, y);
    cairo_rotate(cr, -PLOT_PI / 2);
    cairo_move_to(cr, -align * w + lead, 0);
    cairo_show_text(cr, s);
    cairo_restore(cr);
}

/* A context on a 1x1 surface, for measuring only. */
static cairo_t *measure_create(void)
{
    cairo_surface_t *s = cairo_image_surface_create(CAIRO_FORMAT_RGB24, 1, 1);
    cairo_t *cr = cairo_create(s);
    cairo_surface_destroy(s); /* cr holds its own reference */
    return cr;
}

/* ---- files ---- */

static bool path_is_svg(const char *path)
{
    size_t n = strlen(path);
    return n >= 4 && strcasecmp(path + n - 4, ".svg") == 0;
}

typedef struct target {
    const char *path; /* borrowed */
    FILE *f;          /* owned until target_finish */
    bool svg;
    int write_errno; /* first errno of a failed write */
    cairo_surface_t *surface;
} target;

static cairo_status_t target_write(void *closure, const unsigned char *data, unsigned int length)
{
    target *t = closure;
    if (fwrite(data, 1, length, t->f) != length) {
        if (!t->write_errno)
            t->write_errno = errno ? errno : EIO;
        return CAIRO_STATUS_WRITE_ERROR;
    }
    return CAIRO_STATUS_SUCCESS;
}

static vknmt_status target_open(target *t, const char *path, int width, int height, cairo_t **cr_out, char *err,
                                size_t err_size)
{
    *cr_out = NULL;
    *t = (target){.path = path, .svg = path_is_svg(path)};
    t->f = fopen(path, "wb");
    if (!t->f) {
        vknmt_errorf(err, err_size, "%s: cannot write: %s", path, strerror(errno));
        return VKNMT_ERR_IO;
    }
    if (t->svg)
        t->surface = cairo_svg_surface_create_for_stream(target_write, t, width, height);
    else
        t->surface = cairo_image_surface_create(CAIRO_FORMAT_RGB24, width, height);
    cairo_status_t cs = cairo_surface_status(t->surface);
    cairo_t *cr = NULL;
    if (cs == CAIRO_STATUS_SUCCESS) {
        cr = cairo_create(t->surface);
        cs = cairo_status(cr);
    }
    if (cs != CAIRO_STATUS_SUCCESS) {
        cairo_destroy(cr);
        cairo_surface_destroy(t->surface);
        fclose(t->f);
        unlink(path);
        vknmt_errorf(err, err_size, "%s: cannot make a %dx%d image: %s", path, width, height, cairo_status_to_string(cs));
        return cs == CAIRO_STATUS_NO_MEMORY ? VKNMT_ERR_OOM_HOST : VKNMT_ERR_IO;
    }
    *cr_out = cr;
    return VKNMT_OK;
}

/* Checks the drawing, writes the file, releases everything; removes the
 * file when anything failed. `st` is the caller's status so far. */
static vknmt_status target_finish(target *t, cairo_t *cr, vknmt_status st, char *err, size_t err_size)
{
    cairo_status_t cs = cairo_status(cr);
    cairo_destroy(cr);
    if (st == VKNMT_OK && cs != CAIRO_STATUS_SUCCESS) {
        vknmt_errorf(err, err_size, "%s: drawing failed: %s", t->path, cairo_status_to_string(cs));
        st = cs == CAIRO_STATUS_INVALID_STRING ? VKNMT_ERR_INPUT : VKNMT_ERR_IO;
    }
    if (st == VKNMT_OK) {
        if (t->svg) {
            cairo_surface_finish(t->surface); /* the SVG is written here */
            cs = cairo_surface_status(t->surface);
        } else {
            cairo_surface_flush(t->surface);
            cs = cairo_surface_write_to_png_stream(t->surface, target_write, t);
        }
        if (cs != CAIRO_STATUS_SUCCESS) {
            if (t->write_errno)
                vknmt_errorf(err, err_size, "%s: cannot write: %s", t->path, strerror(t->write_errno));
            else
                vknmt_errorf(err, err_size, "%s: cannot write: %s", t->path, cairo_status_to_string(cs));
            st = cs == CAIRO_STATUS_NO_MEMORY ? VKNMT_ERR_OOM_HOST : VKNMT_ERR_IO;
        }
    }
    cairo_surface_destroy(t->surface);
    if (fclose(t->f) != 0 && st == VKNMT_OK) {
        vknmt_errorf(err, err_size, "%s: cannot write: %s", t->path, strerror(errno));
        st = VKNMT_ERR_IO;
    }
    if (st != VKNMT_OK)
        unlink(t->path);
    return st;
}

/* ---- argument checks ---- */

static vknmt_status check_words(const char *what, const char *const *words, uint32_t n, const char *where, char *err,
                                size_t err_size)
{
    if (n == 0 || n > PLOT_MAX_WORDS) {
        vknmt_errorf(err, err_size, "%s: %u %s words (want 1 to %u)", where, n, what, PLOT_MAX_WORDS);
        return VKNMT_ERR_USAGE;
    }
    if (!words) {
        vknmt_errorf(err, err_size, "%s: no %s words (NULL)", where, what);
        return VKNMT_ERR_USAGE;
    }
    for (uint32_t i = 0; i < n; i++)
        if (!words[i]) {
            vknmt_errorf(err, err_size, "%s: %s word %u is NULL", where, what, i + 1);
            return VKNMT_ERR_USAGE;
        }
    return VKNMT_OK;
}

static vknmt_status check_alignment(const char *const *src, uint32_t nsrc, const char *const *outw, uint32_t nout,
                                    const float *alpha, const char *where, char *err, size_t err_size)
{
    vknmt_status st = check_words("source", src, nsrc, where, err, err_size);
    if (st == VKNMT_OK)
        st = check_words("output", outw, nout, where, err, err_size);
    if (st != VKNMT_OK || !alpha) {
        if (st == VKNMT_OK)
            vknmt_errorf(err, err_size, "%s: no weights (NULL)", where);
        return st != VKNMT_OK ? st : VKNMT_ERR_USAGE;
    }
    for (uint64_t k = 0; k < (uint64_t)nsrc * nout; k++)
        if (!isfinite(alpha[k])) {
            vknmt_errorf(err, err_size, "%s: weight (output %llu, source %llu) is not finite", where,
                 (unsigned long long)(k / nsrc + 1), (unsigned long long)(k % nsrc + 1));
            return VKNMT_ERR_INPUT;
        }
    return VKNMT_OK;
}

static double clamp01(double w) { return w < 0 ? 0 : w > 1 ? 1 : w; }

/* ---- Figure 3: the alignment heatmap ---- */

static font align_font(void) { return (font){.size = 14}; }

static vknmt_status measure_words(cairo_t *cr, const char *what, const char *const *words, uint32_t n, double *max,
                                  const char *where, char *err, size_t err_size)
{
    for (uint32_t i = 0; i < n; i++) {
        double w = text_span(cr, words[i], NULL);
        if (w < 0) {
            vknmt_errorf(err, err_size, "%s: %s word %u is not valid UTF-8", where, what, i + 1);
            return VKNMT_ERR_INPUT;
        }
        if (w > *max)
            *max = w;
    }
    return VKNMT_OK;
}

static vknmt_status check_side(double w, double h, const char *where, char *err, size_t err_size)
{
    if (w > PLOT_MAX_SIDE || h > PLOT_MAX_SIDE) {
        vknmt_errorf(err, err_size, "%s: the image would be %.0fx%.0f pixels (at most %d a side)", where, w, h,
             PLOT_MAX_SIDE);
        return VKNMT_ERR_USAGE;
    }
    return VKNMT_OK;
}

static vknmt_status align_layout(const char *const *src, uint32_t nsrc, const char *const *outw, uint32_t nout,
                                 vknmt_plot_alignment_geometry *geo, const char *where, char *err, size_t err_size)
{
    cairo_t *cr = measure_create();
    font f = align_font();
    font_use(cr, &f);
    double max_src = 0, max_out = 0;
    vknmt_status st = measure_words(cr, "source", src, nsrc, &max_src, where, err, err_size);
    if (st == VKNMT_OK)
        st = measure_words(cr, "output", outw, nout, &max_out, where, err, err_size);
    cairo_destroy(cr);
    if (st != VKNMT_OK)
        return st;
    /* A column must hold a rotated word's line box, a row a word's. */
    double cell = font_height(&f) + 4;
    if (cell < 22)
        cell = 22;
    double gx = PAD + ceil(max_out) + PAD, gy = PAD + ceil(max_src) + PAD;
    double w = gx + nsrc * cell + PAD, h = gy + nout * cell + PAD;
    st = check_side(w, h, where, err, err_size);
    if (st != VKNMT_OK)
        return st;
    *geo = (vknmt_plot_alignment_geometry){
        .width = (int)w, .height = (int)h, .grid_x = (int)gx, .grid_y = (int)gy, .cell = (int)cell};
    return VKNMT_OK;
}

vknmt_status vknmt_plot_alignment_layout(const char *const *src_words, uint32_t nsrc, const char *const *out_words,
                                         uint32_t nout, vknmt_plot_alignment_geometry *geo, char *err,
                                         size_t err_size)
{
    const char *where = "alignment plot";
    if (!geo) {
        vknmt_errorf(err, err_size, "%s: no geometry (NULL)", where);
        return VKNMT_ERR_USAGE;
    }
    vknmt_status st = check_words("source", src_words, nsrc, where, err, err_size);
    if (st == VKNMT_OK)
        st = check_words("output", out_words, nout, where, err, err_size);
    if (st != VKNMT_OK)
        return st;
    return align_layout(src_words, nsrc, out_words, nout, geo, where, err, err_size);
}

vknmt_status vknmt_plot_alignment(const char *path, const char *const *src_words, uint32_t nsrc,
                                  const char *const *out_words, uint32_t nout, const float *alpha, char *err,
                                  size_t err_size)
{
    if (!path || !*path) {
        vknmt_errorf(err, err_size, "alignment plot: no file name");
        return VKNMT_ERR_USAGE;
    }
    vknmt_status st = check_alignment(src_words, nsrc, out_words, nout, alpha, path, err, err_size);
    if (st != VKNMT_OK)
        return st;
    vknmt_plot_alignment_geometry g;
    st = align_layout(src_words, nsrc, out_words, nout, &g, path, err, err_size);
    if (st != VKNMT_OK)
        return st;
    target t;
    cairo_t *cr;
    st = target_open(&t, path, g.width, g.height, &cr, err, err_size);
    if (st != VKNMT_OK)
        return st;

    cairo_set_source_rgb(cr, 1, 1, 1);
    cairo_paint(cr);
    /* The cells: weight 1 white, 0 black, as the paper's Figure 3. */
    for (uint32_t i = 0; i < nout; i++)
        for (uint32_t j = 0; j < nsrc; j++) {
            double v = clamp01(alpha[(size_t)i * nsrc + j]);
            cairo_set_source_rgb(cr, v, v, v);
            cairo_rectangle(cr, g.grid_x + (double)j * g.cell, g.grid_y + (double)i * g.cell, g.cell, g.cell);
            cairo_fill(cr);
        }
    /* A thin mid-grey grid, visible on both black and white, on whole
     * pixels (the +0.5) so it stays one pixel wide and sharp. */
    double right = g.grid_x + (double)nsrc * g.cell, bottom = g.grid_y + (double)nout * g.cell;
    cairo_set_source_rgb(cr, 0.5, 0.5, 0.5);
    cairo_set_line_width(cr, 1);
    for (uint32_t j = 0; j <= nsrc; j++) {
        cairo_move_to(cr, g.grid_x + (double)j * g.cell + 0.5, g.grid_y);
        cairo_line_to(cr, g.grid_x + (double)j * g.cell + 0.5, bottom + 1);
    }
    for (uint32_t i = 0; i <= nout; i++) {
        cairo_move_to(cr, g.grid_x, g.grid_y + (double)i * g.cell + 0.5);
        cairo_line_to(cr, right + 1, g.grid_y + (double)i * g.cell + 0.5);
    }
    cairo_stroke(cr);

    font f = align_font();
    font_use(cr, &f);
    cairo_set_source_rgb(cr, 0, 0, 0);
    for (uint32_t j = 0; j < nsrc; j++)
        text_up_at(cr, &f, src_words[j], g.grid_x + (j + 0.5) * g.cell, g.grid_y - PAD, 0);
    for (uint32_t i = 0; i < nout; i++)
        text_at(cr, &f, out_words[i], g.grid_x - PAD, g.grid_y + (i + 0.5) * g.cell, 1);
    return target_finish(&t, cr, VKNMT_OK, err, err_size);
}

/* ---- Figure 3 as text ---- */


/* Terminal columns of a UTF-8 string, counted as code points (choice: wide
 * CJK characters count one). */
static size_t display_width(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += ((unsigned char)*s & 0xC0) != 0x80;
    return n;
}

vknmt_status vknmt_plot_alignment_text(FILE *out, const char *const *src_words, uint32_t nsrc,
                                       const char *const *out_words, uint32_t nout, const float *alpha, bool unicode,
                                       char *err, size_t err_size)
{
    const char *where = "alignment text";
    if (!out) {
        vknmt_errorf(err, err_size, "%s: no output stream", where);
        return VKNMT_ERR_USAGE;
    }
    vknmt_status st = check_alignment(src_words, nsrc, out_words, nout, alpha, where, err, err_size);
    if (st != VKNMT_OK)
        return st;
    static const char *const shades_unicode[5] = {" ", "\u2591", "\u2592", "\u2593", "\u2588"};
    static const char *const shades_ascii[5] = {" ", ".", ":", "*", "#"};
    const char *const *shades = unicode ? shades_unicode : shades_ascii;
    vknmt_strbuf b = {0};
    char num[32];

    /* The legend, wrapped before 80 columns. */
    size_t col = 0;
    for (uint32_t j = 0; j < nsrc; j++) {
        int n = snprintf(num, sizeof(num), "%u ", j + 1);
        size_t w = (size_t)n + display_width(src_words[j]);
        if (col && col + 2 + w > 79) {
            vknmt_strbuf_puts(&b, "\n");
            col = 0;
        }
        if (col) {
            vknmt_strbuf_puts(&b, "  ");
            col += 2;
        }
        vknmt_strbuf_puts(&b, num);
        vknmt_strbuf_puts(&b, src_words[j]);
        col += w;
    }
    vknmt_strbuf_puts(&b, "\n");

    /* Column numbers, one line per digit, most significant first. */
    uint32_t top = 1;
    while (top <= nsrc / 10)
        top *= 10;
    for (uint32_t place = top; place; place /= 10) {
        for (uint32_t j = 0; j < nsrc; j++) {
            uint32_t n = j + 1;
            char cell[3] = {' ', n >= place ? (char)('0' + n / place % 10) : ' ', '\0'};
            vknmt_strbuf_puts(&b, cell);
        }
        vknmt_strbuf_puts(&b, "\n");
    }

    for (uint32_t i = 0; i < nout; i++) {
        for (uint32_t j = 0; j < nsrc; j++) {
            int level = (int)(clamp01(alpha[(size_t)i * nsrc + j]) * 5);
            if (level > 4)
                level = 4;
            vknmt_strbuf_puts(&b, shades[level]);
            vknmt_strbuf_puts(&b, shades[level]);
        }
        vknmt_strbuf_puts(&b, " ");
        vknmt_strbuf_puts(&b, out_words[i]);
        vknmt_strbuf_puts(&b, "\n");
    }

    if (b.oom) {
        st = VKNMT_ERR_OOM_HOST;
        vknmt_errorf(err, err_size, "%s: out of memory", where);
    } else if (fwrite(b.p, 1, b.len, out) != b.len || fflush(out) != 0) {
        st = VKNMT_ERR_IO;
        vknmt_errorf(err, err_size, "%s: cannot write: %s", where, strerror(errno));
    }
    free(b.p);
    return st;
}

/* ---- Figure 2: lines ---- */

/* Distinct colours (the usual ten of plotting tools), dash patterns and
 * markers; series k takes colour k%10, dash k%4, marker k%5. */
static const double series_rgb[10][3] = {
    {0.122, 0.467, 0.706}, {1.000, 0.498, 0.055}, {0.173, 0.627, 0.173}, {0.839, 0.153, 0.157},
    {0.580, 0.404, 0.741}, {0.549, 0.337, 0.294}, {0.890, 0.467, 0.761}, {0.498, 0.498, 0.498},
    {0.737, 0.741, 0.133}, {0.090, 0.745, 0.812},
};
static const double dash_on_off[4][4] = {{0}, {8, 4}, {2, 3}, {8, 3, 2, 3}};
static const int dash_count[4] = {0, 2, 2, 4};

static void series_style(cairo_t *cr, uint32_t k)
{
    const double *c = series_rgb[k % 10];
    cairo_set_source_rgb(cr, c[0], c[1], c[2]);
    cairo_set_line_width(cr, 2);
    cairo_set_dash(cr, dash_on_off[k % 4], dash_count[k % 4], 0);
}

static void marker(cairo_t *cr, uint32_t k, double x, double y)
{
    const double r = 4;
    switch (k % 5) {
    case 0:
        cairo_arc(cr, x, y, r, 0, 2 * PLOT_PI);
        break;
    case 1:
        cairo_rectangle(cr, x - r, y - r, 2 * r, 2 * r);
        break;
    case 2:
        cairo_move_to(cr, x, y - 1.2 * r);
        cairo_line_to(cr, x + 1.1 * r, y + 0.8 * r);
        cairo_line_to(cr, x - 1.1 * r, y + 0.8 * r);
        cairo_close_path(cr);
        break;
    case 3:
        cairo_move_to(cr, x, y - 1.3 * r);
        cairo_line_to(cr, x + 1.3 * r, y);
        cairo_line_to(cr, x, y + 1.3 * r);
        cairo_line_to(cr, x - 1.3 * r, y);
        cairo_close_path(cr);
        break;
    default:
        cairo_move_to(cr, x, y + 1.2 * r);
        cairo_line_to(cr, x + 1.1 * r, y - 0.8 * r);
        cairo_line_to(cr, x - 1.1 * r, y - 0.8 * r);
        cairo_close_path(cr);
        break;
    }
    cairo_fill(cr);
}

typedef struct lines_fonts {
    font tick, label, title;
} lines_fonts;

static lines_fonts lines_fonts_get(void)
{
    return (lines_fonts){.tick = {.size = 13}, .label = {.size = 15}, .title = {.size = 17, .bold = true}};
}

#define TICK_LEN 5
#define LEGEND_SAMPLE 36

/* "%g" of a tick value, with the rounding noise of i*step taken off. */
static void tick_text(double v, double step, char *buf, size_t size)
{
    if (fabs(v) < step * 1e-9)
        v = 0;
    snprintf(buf, size, "%g", v);
}

static void tick_x_text(const char *const *xticks, uint32_t i, char *buf, size_t size, const char **s)
{
    if (xticks) {
        *s = xticks[i];
    } else {
        snprintf(buf, size, "%u", i + 1);
        *s = buf;
    }
}

/* A "nice" y range: steps of 1, 2, 2.5 or 5 times a power of ten, about
 * six of them, from 0 (or a rounded minimum below it) to a rounded maximum. */
static void y_range(const double *values, size_t n, double *ymin, double *ymax, double *ystep)
{
    double lo = 0, hi = 0;
    for (size_t k = 0; k < n; k++)
        if (isfinite(values[k])) {
            if (values[k] < lo)
                lo = values[k];
            if (values[k] > hi)
                hi = values[k];
        }
    if (hi - lo <= 0) {
        *ymin = 0;
        *ymax = 1;
        *ystep = 0.2;
        return;
    }
    double raw = (hi - lo) / 6, mag = pow(10, floor(log10(raw))), norm = raw / mag;
    double step = (norm <= 1 ? 1 : norm <= 2 ? 2 : norm <= 2.5 ? 2.5 : norm <= 5 ? 5 : 10) * mag;
    *ystep = step;
    *ymax = ceil(hi / step - 1e-9) * step;
    *ymin = lo < 0 ? floor(lo / step + 1e-9) * step : 0;
}

static vknmt_status lines_check(const char *const *xticks, uint32_t npoints, const char *const *series_names,
                                uint32_t nseries, const double *values, const char *where, char *err,
                                size_t err_size)
{
    if (npoints == 0 || npoints > PLOT_MAX_WORDS || nseries == 0 || nseries > PLOT_MAX_WORDS) {
        vknmt_errorf(err, err_size, "%s: %u points, %u series (want 1 to %u of each)", where, npoints, nseries,
             PLOT_MAX_WORDS);
        return VKNMT_ERR_USAGE;
    }
    if (xticks)
        for (uint32_t i = 0; i < npoints; i++)
            if (!xticks[i]) {
                vknmt_errorf(err, err_size, "%s: x tick %u is NULL", where, i + 1);
                return VKNMT_ERR_USAGE;
            }
    vknmt_status st = check_words("series", series_names, nseries, where, err, err_size);
    if (st != VKNMT_OK)
        return st;
    if (!values) {
        vknmt_errorf(err, err_size, "%s: no values (NULL)", where);
        return VKNMT_ERR_USAGE;
    }
    return VKNMT_OK;
}

/* Measures `s` (NULL: 0) in font f; -1 with the message when not UTF-8. */
static double measure(cairo_t *cr, font *f, const char *s)
{
    if (!s)
        return 0;
    font_use(cr, f);
    return text_span(cr, s, NULL);
}

static vknmt_status lines_layout(cairo_t *cr, const char *title, const char *xlabel, const char *ylabel,
                                 const char *const *xticks, uint32_t npoints, const char *const *series_names,
                                 uint32_t nseries, const double *values, vknmt_plot_lines_geometry *g,
                                 const char *where, char *err, size_t err_size)
{
    lines_fonts fs = lines_fonts_get();
    double title_w = measure(cr, &fs.title, title);
    double xlabel_w = measure(cr, &fs.label, xlabel);
    double ylabel_w = measure(cr, &fs.label, ylabel);
    if (title_w < 0 || xlabel_w < 0 || ylabel_w < 0) {
        vknmt_errorf(err, err_size, "%s: the %s is not valid UTF-8", where,
             title_w < 0 ? "title" : xlabel_w < 0 ? "x label" : "y label");
        return VKNMT_ERR_INPUT;
    }
    font_use(cr, &fs.tick);
    double xtick_w = 0, ytick_w = 0, name_w = 0;
    char buf[64];
    for (uint32_t i = 0; i < npoints; i++) {
        const char *s;
        tick_x_text(xticks, i, buf, sizeof(buf), &s);
        double w = text_span(cr, s, NULL);
        if (w < 0) {
            vknmt_errorf(err, err_size, "%s: x tick %u is not valid UTF-8", where, i + 1);
            return VKNMT_ERR_INPUT;
        }
        if (w > xtick_w)
            xtick_w = w;
    }
    y_range(values, (size_t)npoints * nseries, &g->ymin, &g->ymax, &g->ystep);
    long nyt = lround((g->ymax - g->ymin) / g->ystep);
    for (long k = 0; k <= nyt; k++) {
        tick_text(g->ymin + k * g->ystep, g->ystep, buf, sizeof(buf));
        double w = text_span(cr, buf, NULL);
        if (w > ytick_w)
            ytick_w = w;
    }
    font_use(cr, &fs.label);
    for (uint32_t k = 0; k < nseries; k++) {
        double w = text_span(cr, series_names[k], NULL);
        if (w < 0) {
            vknmt_errorf(err, err_size, "%s: series name %u is not valid UTF-8", where, k + 1);
            return VKNMT_ERR_INPUT;
        }
        if (w > name_w)
            name_w = w;
    }

    double tick_h = font_height(&fs.tick), label_h = font_height(&fs.label), title_h = font_height(&fs.title);
    double left = PAD + (ylabel ? label_h + PAD : 0) + ceil(ytick_w) + 4 + TICK_LEN;
    double top = PAD + (title ? title_h + PAD : 0) + ceil(tick_h / 2);
    double bottom = TICK_LEN + 4 + tick_h + (xlabel ? PAD + label_h : 0) + PAD;
    double row_h = label_h + 4;
    double legend_w = 8 + LEGEND_SAMPLE + 6 + ceil(name_w) + 8, legend_h = 6 + nseries * row_h + 6;
    double right = 14 + legend_w + PAD;

    double plot_w = npoints * (ceil(xtick_w) + 10);
    if (plot_w < 420)
        plot_w = 420;
    if (plot_w < xlabel_w + 10)
        plot_w = ceil(xlabel_w) + 10;
    if (left + plot_w + right < title_w + 2 * PAD)
        plot_w = ceil(title_w) + 2 * PAD - left - right;
    double plot_h = 300;
    if (plot_h < ylabel_w + 10)
        plot_h = ceil(ylabel_w) + 10;
    double height = top + plot_h + bottom;
    if (height < top + legend_h + PAD)
        height = top + legend_h + PAD;
    double width = left + plot_w + right;
    vknmt_status st = check_side(width, height, where, err, err_size);
    if (st != VKNMT_OK)
        return st;
    g->width = (int)width;
    g->height = (int)height;
    g->plot_x = (int)left;
    g->plot_y = (int)top;
    g->plot_w = (int)plot_w;
    g->plot_h = (int)plot_h;
    return VKNMT_OK;
}

vknmt_status vknmt_plot_lines_layout(const char *title, const char *xlabel, const char *ylabel,
                                     const char *const *xticks, uint32_t npoints, const char *const *series_names,
                                     uint32_t nseries, const double *values, vknmt_plot_lines_geometry *geo,
                                     char *err, size_t err_size)
{
    const char *where = "line plot";
    if (!geo) {
        vknmt_errorf(err, err_size, "%s: no geometry (NULL)", where);
        return VKNMT_ERR_USAGE;
    }
    vknmt_status st = lines_check(xticks, npoints, series_names, nseries, values, where, err, err_size);
    if (st != VKNMT_OK)
        return st;
    cairo_t *cr = measure_create();
    st = lines_layout(cr, title, xlabel, ylabel, xticks, npoints, series_names, nseries, values, geo, where, err,
                      err_size);
    cairo_destroy(cr);
    return st;
}

vknmt_status vknmt_plot_lines(const char *path, const char *title, const char *xlabel, const char *ylabel,
                              const char *const *xticks, uint32_t npoints, const char *const *series_names,
                              uint32_t nseries, const double *values, char *err, size_t err_size)
{
    if (!path || !*path) {
        vknmt_errorf(err, err_size, "line plot: no file name");
        return VKNMT_ERR_USAGE;
    }
    vknmt_status st = lines_check(xticks, npoints, series_names, nseries, values, path, err, err_size);
    if (st != VKNMT_OK)
        return st;
    vknmt_plot_lines_geometry g;
    cairo_t *cr = measure_create();
    st = lines_layout(cr, title, xlabel, ylabel, xticks, npoints, series_names, nseries, values, &g, path, err,
                      err_size);
    cairo_destroy(cr);
    if (st != VKNMT_OK)
        return st;
    target t;
    st = target_open(&t, path, g.width, g.height, &cr, err, err_size);
    if (st != VKNMT_OK)
        return st;

    lines_fonts fs = lines_fonts_get();
    double px = g.plot_x, py = g.plot_y, pw = g.plot_w, ph = g.plot_h;
    double dx = pw / npoints, yscale = ph / (g.ymax - g.ymin);
    long nyt = lround((g.ymax - g.ymin) / g.ystep);
    char buf[64];

    cairo_set_source_rgb(cr, 1, 1, 1);
    cairo_paint(cr);
    /* Grid lines at the y ticks, under everything. */
    cairo_set_line_width(cr, 1);
    cairo_set_source_rgb(cr, 0.88, 0.88, 0.88);
    for (long k = 1; k < nyt; k++) {
        double y = floor(py + ph - k * g.ystep * yscale) + 0.5;
        cairo_move_to(cr, px, y);
        cairo_line_to(cr, px + pw, y);
    }
    cairo_stroke(cr);

    /* The frame, the ticks and their labels. */
    cairo_set_source_rgb(cr, 0, 0, 0);
    cairo_rectangle(cr, px + 0.5, py + 0.5, pw, ph);
    font_use(cr, &fs.tick);
    for (long k = 0; k <= nyt; k++) {
        double y = floor(py + ph - k * g.ystep * yscale) + 0.5;
        cairo_move_to(cr, px - TICK_LEN, y);
        cairo_line_to(cr, px, y);
    }
    for (uint32_t i = 0; i < npoints; i++) {
        double x = floor(px + (i + 0.5) * dx) + 0.5;
        cairo_move_to(cr, x, py + ph + 1);
        cairo_line_to(cr, x, py + ph + 1 + TICK_LEN);
    }
    cairo_stroke(cr);
    for (long k = 0; k <= nyt; k++) {
        tick_text(g.ymin + k * g.ystep, g.ystep, buf, sizeof(buf));
        text_at(cr, &fs.tick, buf, px - TICK_LEN - 4, py + ph - k * g.ystep * yscale, 1);
    }
    double tick_h = font_height(&fs.tick);
    for (uint32_t i = 0; i < npoints; i++) {
        const char *s;
        tick_x_text(xticks, i, buf, sizeof(buf), &s);
        text_at(cr, &fs.tick, s, px + (i + 0.5) * dx, py + ph + TICK_LEN + 4 + tick_h / 2, 0.5);
    }

    /* Axis labels and title. */
    font_use(cr, &fs.label);
    double label_h = font_height(&fs.label);
    if (xlabel)
        text_at(cr, &fs.label, xlabel, px + pw / 2, py + ph + TICK_LEN + 4 + tick_h + PAD + label_h / 2, 0.5);
    if (ylabel)
        text_up_at(cr, &fs.label, ylabel, PAD + label_h / 2, py + ph / 2, 0.5);
    if (title) {
        font_use(cr, &fs.title);
        text_at(cr, &fs.title, title, g.width / 2.0, PAD + font_height(&fs.title) / 2, 0.5);
    }

    /* The series: lines broken at missing points, then solid markers. */
    cairo_save(cr);
    cairo_rectangle(cr, px, py, pw + 1, ph + 1);
    cairo_clip(cr);
    cairo_set_line_join(cr, CAIRO_LINE_JOIN_ROUND);
    for (uint32_t k = 0; k < nseries; k++) {
        const double *v = values + (size_t)k * npoints;
        series_style(cr, k);
        bool pen_down = false;
        for (uint32_t i = 0; i < npoints; i++) {
            if (!isfinite(v[i])) {
                pen_down = false;
                continue;
            }
            double x = px + (i + 0.5) * dx, y = py + ph - (v[i] - g.ymin) * yscale;
            if (pen_down)
                cairo_line_to(cr, x, y);
            else
                cairo_move_to(cr, x, y);
            pen_down = true;
        }
        cairo_stroke(cr);
        for (uint32_t i = 0; i < npoints; i++)
            if (isfinite(v[i]))
                marker(cr, k, px + (i + 0.5) * dx, py + ph - (v[i] - g.ymin) * yscale);
    }
    cairo_restore(cr);

    /* The legend, right of the plot. */
    font_use(cr, &fs.label);
    cairo_set_dash(cr, NULL, 0, 0);
    double row_h = label_h + 4;
    double name_w = 0;
    for (uint32_t k = 0; k < nseries; k++) {
        double w = text_span(cr, series_names[k], NULL);
        if (w > name_w)
            name_w = w;
    }
    double lx = px + pw + 14, ly = py;
    double lw = 8 + LEGEND_SAMPLE + 6 + ceil(name_w) + 8, lh = 6 + nseries * row_h + 6;
    cairo_rectangle(cr, floor(lx) + 0.5, floor(ly) + 0.5, lw, lh);
    cairo_set_source_rgb(cr, 1, 1, 1);
    cairo_fill_preserve(cr);
    cairo_set_source_rgb(cr, 0.3, 0.3, 0.3);
    cairo_set_line_width(cr, 1);
    cairo_stroke(cr);
    for (uint32_t k = 0; k < nseries; k++) {
        double cy = ly + 6 + (k + 0.5) * row_h;
        series_style(cr, k);
        cairo_move_to(cr, lx + 8, cy);
        cairo_line_to(cr, lx + 8 + LEGEND_SAMPLE, cy);
        cairo_stroke(cr);
        marker(cr, k, lx + 8 + LEGEND_SAMPLE / 2.0, cy);
        cairo_set_source_rgb(cr, 0, 0, 0);
        text_at(cr, &fs.label, series_names[k], lx + 8 + LEGEND_SAMPLE + 6, cy, 0);
    }
    return target_finish(&t, cr, VKNMT_OK, err, err_size);
}
