/* vknmt bench: speed on the current device beside a yardstick measured in
 * the same process. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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

int vknmt_cmd_bench(vknmt_cli *cli, int argc, char **argv)
{
    bool json = false;
    const char *what = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0)
            json = true;
        else if (argv[i][0] != '-' && !what)
            what = argv[i];
        else {
            fprintf(stderr, "vknmt bench: unknown argument %s\n", argv[i]);
            return 2;
        }
    }
    if (!what || strcmp(what, "gemm") != 0) {
        fprintf(stderr, "usage: vknmt bench gemm [--json]\n");
        return 2;
    }
    if (!vknmt_cli_open(cli))
        return 1;
    return vknmt_bench_gemm(cli->ctx, json, stdout);
}
