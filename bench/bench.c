/* vknmt bench: speed on the current device beside a yardstick measured in
 * the same process. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "bench.h"
#include "cli.h"

/* OpenBLAS reads OPENBLAS_CORETYPE when it is loaded, before main: this
 * environment pins it to Haswell (see DEVELOPERS.md), which hides its
 * AVX-512 kernels. Run again without it so the yardstick is its best. */
void vknmt_bench_prepare(char **argv)
{
    if (!getenv("OPENBLAS_CORETYPE") && !getenv("OPENBLAS_L2_SIZE"))
        return;
    if (getenv("VKNMT_KEEP_OPENBLAS_CORETYPE"))
        return;
    unsetenv("OPENBLAS_CORETYPE");
    unsetenv("OPENBLAS_L2_SIZE");
    char *const *args = argv;
    execv("/proc/self/exe", args);
    /* exec failed: carry on with the pinned kernel; the output names it */
}

static void bench_usage(void)
{
    fprintf(stderr, "usage: vknmt bench gemm [--json]\n"
                    "       vknmt bench train [--json] [--preset small|paper|all] [--steps N] [--reference]\n"
                    "                         [--src FILE --tgt FILE]\n");
}

int vknmt_cmd_bench(vknmt_cli *cli, int argc, char **argv)
{
    vknmt_bench_train_options to = {0};
    bool json = false, train_args = false;
    const char *what = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0)
            json = true;
        else if (strcmp(argv[i], "--reference") == 0)
            to.reference = train_args = true;
        else if (strcmp(argv[i], "--preset") == 0) {
            to.preset = vknmt_cli_value(argc, argv, &i);
            train_args = true;
        } else if (strcmp(argv[i], "--steps") == 0) {
            const char *v = vknmt_cli_value(argc, argv, &i);
            char *end;
            long n = strtol(v, &end, 10);
            if (*end || n < 1 || n > 100000) {
                fprintf(stderr, "vknmt bench: --steps wants a count >= 1, not '%s'\n", v);
                return 2;
            }
            to.steps = (int)n;
            train_args = true;
        } else if (strcmp(argv[i], "--src") == 0) {
            to.src = vknmt_cli_value(argc, argv, &i);
            train_args = true;
        } else if (strcmp(argv[i], "--tgt") == 0) {
            to.tgt = vknmt_cli_value(argc, argv, &i);
            train_args = true;
        } else if (argv[i][0] != '-' && !what)
            what = argv[i];
        else {
            fprintf(stderr, "vknmt bench: unknown argument %s\n", argv[i]);
            bench_usage();
            return 2;
        }
    }
    bool gemm = what && strcmp(what, "gemm") == 0, train = what && strcmp(what, "train") == 0;
    if ((!gemm && !train) || (gemm && train_args)) {
        bench_usage();
        return 2;
    }
    if (train && to.preset && strcmp(to.preset, "small") != 0 && strcmp(to.preset, "paper") != 0 &&
        strcmp(to.preset, "all") != 0) {
        fprintf(stderr, "vknmt bench train: --preset is small, paper or all, not '%s'\n", to.preset);
        return 2;
    }
    if (train && (!to.src) != (!to.tgt)) {
        fprintf(stderr, "vknmt bench train: --src and --tgt go together\n");
        return 2;
    }
    if (!vknmt_cli_open(cli))
        return 1;
    if (train) {
        to.json = json;
        return vknmt_bench_train(cli, &to, stdout);
    }
    return vknmt_bench_gemm(cli->ctx, json, stdout);
}

int vknmt_bench_cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

void vknmt_bench_json_string(FILE *out, const char *s)
{
    cJSON *j = cJSON_CreateString(s);
    char *text = j ? cJSON_PrintUnformatted(j) : NULL;
    fputs(text ? text : "\"\"", out);
    cJSON_free(text);
    cJSON_Delete(j);
}
