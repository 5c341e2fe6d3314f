/* vknmt bench: speed on the current device beside a yardstick measured in
 * the same process. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"
#include "cli.h"

/* OpenBLAS reads OPENBLAS_CORETYPE when it is loaded (bench gemm's dlopen,
 * the PyTorch reference's process): an environment that pins it to Haswell
 * hides its AVX-512 kernels, so the yardsticks run without it. */
void vknmt_bench_prepare(void)
{
    if (getenv("VKNMT_KEEP_OPENBLAS_CORETYPE"))
        return;
    unsetenv("OPENBLAS_CORETYPE");
    unsetenv("OPENBLAS_L2_SIZE");
}

static void bench_usage(void)
{
    fprintf(stderr, "usage: vknmt bench gemm [--json] [--shape MxNxK ...]\n"
                    "       vknmt bench train [--json] [--preset small|paper|all] [--steps N] [--reference]\n"
                    "                         [--src FILE --tgt FILE]\n"
                    "       vknmt bench decode [--json] [--preset small|paper|all | --model F] [--sentences N]\n"
                    "                          [--test FILE] [--reference] [--latency-only]\n");
}

/* `vknmt translate` decodes one sentence at a time with every dispatch
 * inline on a CPU device (vknmt_instance_options.cpu_inline), a choice made
 * when the device is opened: the latencies it gives are measured again in
 * a child process opened that way. */
static int latency_inline_child(const vknmt_cli *cli, int argc, char **argv)
{
    char *args[64];
    int n = 0;
    args[n++] = "vknmt";
    args[n++] = "--cpu-inline";
    if (cli->device) {
        args[n++] = "--device";
        args[n++] = (char *)cli->device;
    }
    for (int i = 0; i < argc && n < 61; i++)
        args[n++] = argv[i];
    args[n++] = "--latency-only";
    args[n] = NULL;
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid == 0) {
        execv("/proc/self/exe", args);
        _exit(127);
    }
    int status;
    if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "vknmt bench decode: the inline-dispatch latency run failed\n");
        return 1;
    }
    return 0;
}

int vknmt_cmd_bench(vknmt_cli *cli, int argc, char **argv)
{
    vknmt_bench_train_options to = {0};
    bool json = false, train_args = false, decode_args = false, latency_only = false;
    int sentences = 0;
    const char *what = NULL, *model = NULL, *test = NULL;
    enum { MAX_SHAPES = 16 };
    vknmt_bench_shape shapes[MAX_SHAPES];
    size_t n_shapes = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0)
            json = true;
        else if (strcmp(argv[i], "--shape") == 0) {
            const char *v = vknmt_cli_value(argc, argv, &i);
            unsigned m, n, k;
            char tail;
            if (sscanf(v, "%ux%ux%u%c", &m, &n, &k, &tail) != 3 || !m || !n || !k || m > 65536 || n > 65536 ||
                k > 65536 || (uint64_t)m * n > (1u << 27) || (uint64_t)m * k > (1u << 27) ||
                (uint64_t)n * k > (1u << 27)) {
                fprintf(stderr, "vknmt bench gemm: --shape wants MxNxK (each 1-65536, no matrix over 2^27 "
                                "floats), not '%s'\n", v);
                return 2;
            }
            if (n_shapes == MAX_SHAPES) {
                fprintf(stderr, "vknmt bench gemm: at most %d --shape\n", MAX_SHAPES);
                return 2;
            }
            shapes[n_shapes++] = (vknmt_bench_shape){m, n, k, "--shape"};
        }
        else if (strcmp(argv[i], "--reference") == 0)
            to.reference = train_args = true;
        else if (strcmp(argv[i], "--preset") == 0) {
            to.preset = vknmt_cli_value(argc, argv, &i);
            train_args = true;
        } else if (strcmp(argv[i], "--steps") == 0) {
            const char *o = argv[i];
            to.steps = (int)vknmt_cli_count("bench", o, vknmt_cli_value(argc, argv, &i), 1, 100000);
            train_args = true;
        } else if (strcmp(argv[i], "--sentences") == 0) {
            const char *o = argv[i];
            sentences = (int)vknmt_cli_count("bench", o, vknmt_cli_value(argc, argv, &i), 1, 1000000);
            decode_args = true;
        } else if (strcmp(argv[i], "--latency-only") == 0) {
            latency_only = decode_args = true;
        } else if (strcmp(argv[i], "--test") == 0) {
            test = vknmt_cli_value(argc, argv, &i);
            decode_args = true;
        } else if (strcmp(argv[i], "--model") == 0) {
            model = vknmt_cli_value(argc, argv, &i);
            decode_args = true;
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
    bool gemm = what && strcmp(what, "gemm") == 0, train = what && strcmp(what, "train") == 0,
         decode = what && strcmp(what, "decode") == 0;
    if ((!gemm && !train && !decode) || (gemm && (train_args || decode_args)) || (!gemm && n_shapes) || (train && decode_args) ||
        (decode && (to.steps || to.src || to.tgt || (model && to.preset)))) {
        bench_usage();
        return 2;
    }
    if ((train || decode) && to.preset && strcmp(to.preset, "small") != 0 && strcmp(to.preset, "paper") != 0 &&
        strcmp(to.preset, "all") != 0) {
        fprintf(stderr, "vknmt bench %s: --preset is small, paper or all, not '%s'\n", what, to.preset);
        return 2;
    }
    if (train && (!to.src) != (!to.tgt)) {
        fprintf(stderr, "vknmt bench train: --src and --tgt go together\n");
        return 2;
    }
    if (!vknmt_cli_open(cli))
        return 1;
    if (decode) {
        vknmt_bench_decode_options dopt = {.json = json, .reference = to.reference, .preset = to.preset,
                                           .sentences = sentences, .test = test, .model = model,
                                           .latency_only = latency_only};
        int rc = vknmt_bench_decode(cli, &dopt, stdout);
        if (rc == 0 && !latency_only && !cli->cpu_inline && !getenv("LP_NUM_THREADS") &&
            vknmt_context_caps(cli->ctx)->quirk_cpu_lanes)
            rc = latency_inline_child(cli, argc, argv);
        return rc;
    }
    if (train) {
        to.json = json;
        return vknmt_bench_train(cli, &to, stdout);
    }
    return vknmt_bench_gemm(cli->ctx, shapes, n_shapes, json, stdout);
}
