/* What the vknmt subcommands share: opening the device, option helpers. */
#ifndef VKNMT_CLI_H
#define VKNMT_CLI_H

#include <stdbool.h>

#include "vknmt_runtime.h"

typedef struct vknmt_cli {
    const char *device;  /* --device N|NAME, or NULL */
    bool validation;     /* --validation */
    bool cpu_inline;     /* --cpu-inline, or a command's choice before opening (vknmt_instance_options) */
    vknmt_instance *inst;
    vknmt_context *ctx;
} vknmt_cli;

/* Hypothesis rows decoded at once up to which a CPU device runs faster with
 * every dispatch inline (vknmt_instance_options.cpu_inline): decoding few
 * rows is many small dispatches, each handed to worker threads otherwise.
 * Measured on lavapipe, 2 cores: one sentence greedy 31 ms inline against
 * 54 ms, two rows 31 against 43 ms; beam 5 (5 rows) 83 against 69 ms. */
#define VKNMT_CLI_INLINE_ROWS 4

/* Opens the instance and the selected device; prints the reason and
 * returns false on failure. */
bool vknmt_cli_open(vknmt_cli *cli);
void vknmt_cli_close(vknmt_cli *cli);

/* argv[*i] is `name`: takes its value (the next argument) or exits with a
 * usage error. */
const char *vknmt_cli_value(int argc, char **argv, int *i);
/* Option `opt` of command `cmd` with value `v`: a whole number lo .. hi,
 * or a finite real lo .. hi; anything else exits with a usage error (2)
 * that names both. */
uint64_t vknmt_cli_count(const char *cmd, const char *opt, const char *v, uint64_t lo, uint64_t hi);
double vknmt_cli_real(const char *cmd, const char *opt, const char *v, double lo, double hi);

int vknmt_cmd_devices(vknmt_cli *cli, int argc, char **argv);
int vknmt_cmd_bench(vknmt_cli *cli, int argc, char **argv);
int vknmt_cmd_grad(vknmt_cli *cli, int argc, char **argv);
int vknmt_cmd_train(vknmt_cli *cli, int argc, char **argv);
int vknmt_cmd_translate(vknmt_cli *cli, int argc, char **argv);
int vknmt_cmd_align(vknmt_cli *cli, int argc, char **argv);
int vknmt_cmd_bleu(vknmt_cli *cli, int argc, char **argv);
int vknmt_cmd_eval(vknmt_cli *cli, int argc, char **argv);
int vknmt_cmd_corpus(vknmt_cli *cli, int argc, char **argv);

#endif
