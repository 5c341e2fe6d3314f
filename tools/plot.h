/* The paper's figures, drawn with Cairo: the attention heatmap of Figure 3
 * (PNG, SVG, or shaded text for the terminal) and the line plot of Figure 2
 * (BLEU by sentence length).
 *
 * Files: a path ending in ".svg" (any case) gives SVG, anything else PNG.
 * The file is opened by these functions and removed again when writing it
 * fails half way. Text uses Cairo's toy font API with "DejaVu Sans"
 * (Debian's fonts-dejavu-core); words are UTF-8. If that font is missing,
 * fontconfig substitutes another one silently (sizes are still measured on
 * the font actually used, so nothing is clipped).
 *
 * Errors: VKNMT_ERR_USAGE (NULL or empty arguments, an image over 32767
 * pixels a side), VKNMT_ERR_INPUT (a word that is not valid UTF-8, a weight
 * that is not finite), VKNMT_ERR_IO (the file cannot be written),
 * VKNMT_ERR_OOM_HOST; the message, which names the file, goes to err. */
#ifndef VKNMT_PLOT_H
#define VKNMT_PLOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "vknmt_status.h"

/* Where vknmt_plot_alignment puts things, in pixels (PNG) or points (SVG).
 * Cell (i, j) (output word i, source word j) covers
 *   x in [grid_x + j*cell, grid_x + (j+1)*cell), y in [grid_y + i*cell, ...)
 * and its first pixel row and column carry the grid line. */
typedef struct vknmt_plot_alignment_geometry {
    int width, height;  /* the whole image */
    int grid_x, grid_y; /* top-left corner of cell (0, 0) */
    int cell;           /* side of one square cell */
} vknmt_plot_alignment_geometry;

/* The geometry vknmt_plot_alignment uses for these words (the weights do not
 * change it). */
vknmt_status vknmt_plot_alignment_layout(const char *const *src_words, uint32_t nsrc, const char *const *out_words,
                                         uint32_t nout, vknmt_plot_alignment_geometry *geo, char *err,
                                         size_t err_size);

/* Figure 3: source words along the top (rotated, reading upwards), output
 * words down the left, one grey cell per (output i, source j): weight
 * alpha[i*nsrc + j] 1 is white, 0 black (weights are clamped to [0, 1]). */
vknmt_status vknmt_plot_alignment(const char *path, const char *const *src_words, uint32_t nsrc,
                                  const char *const *out_words, uint32_t nout, const float *alpha, char *err,
                                  size_t err_size);

/* The same matrix as text: a legend line(s) "1 la  2 casa ...", the column
 * numbers (one line per digit, each column two characters wide), then one
 * line per output word: two characters per source word shaded by weight w
 * (level floor(5w), clamped to 0..4) from " ░▒▓█", or from " .:*#" when
 * !unicode, then a space and the output word. Example (unicode):
 *     1 la  2 casa
 *      1 2
 *     ██   the
 *     ░░▓▓ house
 * Errors: as above, and VKNMT_ERR_IO when writing to `out` fails. */
vknmt_status vknmt_plot_alignment_text(FILE *out, const char *const *src_words, uint32_t nsrc,
                                       const char *const *out_words, uint32_t nout, const float *alpha, bool unicode,
                                       char *err, size_t err_size);

/* Where vknmt_plot_lines puts things. Point i of every series is at
 *   x = plot_x + (i + 0.5) * plot_w / npoints
 *   y = plot_y + plot_h * (ymax - v) / (ymax - ymin). */
typedef struct vknmt_plot_lines_geometry {
    int width, height;                  /* the whole image */
    int plot_x, plot_y, plot_w, plot_h; /* the framed plotting area */
    double ymin, ymax, ystep;           /* y axis: ymin is 0 unless a value is negative */
} vknmt_plot_lines_geometry;

/* The geometry vknmt_plot_lines uses for these inputs. */
vknmt_status vknmt_plot_lines_layout(const char *title, const char *xlabel, const char *ylabel,
                                     const char *const *xticks, uint32_t npoints, const char *const *series_names,
                                     uint32_t nseries, const double *values, vknmt_plot_lines_geometry *geo,
                                     char *err, size_t err_size);

/* Figure 2: one line with markers per series (values [nseries, npoints]
 * row-major; NaN or infinite = no point, which breaks the line), each in its
 * own colour, dash pattern and marker; x ticks labelled xticks[i] (NULL:
 * 1..npoints); y axis from 0 (or below, for negative values) to a rounded
 * maximum with labelled ticks and light grid lines; a legend box right of
 * the plot. title, xlabel and ylabel may be NULL (left out). */
vknmt_status vknmt_plot_lines(const char *path, const char *title, const char *xlabel, const char *ylabel,
                              const char *const *xticks, uint32_t npoints, const char *const *series_names,
                              uint32_t nseries, const double *values, char *err, size_t err_size);

#endif
