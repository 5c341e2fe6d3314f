/* The vknmt command: one binary, subcommands. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "cli.h"

static void usage(FILE *out)
{
    fprintf(out,
            "usage: vknmt [--device N|NAME] [--validation] [--cpu-inline] COMMAND [ARGS]\n"
            "\n"
            "commands:\n"
            "  devices          list the Vulkan devices and what they can do\n"
            "  train            train a model on parallel text (vknmt train --help)\n"
            "  translate        translate lines with a trained model (-m MODEL [--beam 12] [-i F] [-o F])\n"
            "  align            attention of one sentence as a PNG/SVG heatmap and terminal shading\n"
            "  eval             BLEU (all, no-UNK, by length + plot) and speed of models on a test set\n"
            "  bleu             corpus BLEU as sacreBLEU computes it (-r REF [-r REF2] -i HYP [-lc])\n"
            "  corpus bible     the es-en Bible corpus from Debian's SWORD packages (--out DIR)\n"
            "  grad             loss and gradient of one batch (--model P --batch B --out G),\n"
            "                   in the format of shared/ref/check_grads.py\n"
            "  bench gemm       GEMM speed on the device beside OpenBLAS (--json)\n"
            "  bench train      training tokens/s at batch 80 on the Bible corpus beside the\n"
            "                   PyTorch reference ([--json] [--preset small|paper|all]\n"
            "                   [--steps N] [--reference] [--src F --tgt F])\n"
            "  bench decode     greedy/beam 5/beam 12 sentences/s and words/s at batch 1 and 64 and\n"
            "                   one 25-word sentence's latency beside the PyTorch reference\n"
            "                   ([--json] [--preset small|paper|all | --model F] [--sentences N]\n"
            "                   [--reference] [--latency-only])\n"
            "\n"
            "--cpu-inline: on a CPU device (lavapipe) run every dispatch on one thread, with no\n"
            "hand-off to worker threads: faster when decoding a few rows at once (translate\n"
            "chooses it for beam x batch <= 4 and a terminal's lines, align always), slower for\n"
            "big batches.\n"
            "\n"
            "environment:\n"
            "  VKNMT_DEVICE     device index or part of its name (as --device)\n"
            "  VKNMT_PROFILE=1  print a per-kernel GPU time table at exit\n"
            "  VKNMT_DISABLE    comma list of optional features to switch off:\n"
            "                   fp16,int8,subgroup,texel,timestamps\n");
}

bool vknmt_cli_open(vknmt_cli *cli)
{
    vknmt_instance_options io = {.validation = cli->validation, .cpu_inline = cli->cpu_inline};
    vknmt_status s = vknmt_instance_create(&io, &cli->inst);
    uint32_t dev = 0;
    if (s == VKNMT_OK)
        s = vknmt_instance_select(cli->inst, cli->device, &dev);
    if (s != VKNMT_OK) {
        fprintf(stderr, "vknmt: %s\n", vknmt_instance_errmsg(cli->inst));
        return false;
    }
    s = vknmt_context_create(cli->inst, dev, NULL, &cli->ctx);
    if (s != VKNMT_OK) {
        fprintf(stderr, "vknmt: device %u: %s\n", dev,
                cli->ctx ? vknmt_context_errmsg(cli->ctx) : vknmt_instance_errmsg(cli->inst));
        return false;
    }
    return true;
}

void vknmt_cli_close(vknmt_cli *cli)
{
    if (cli->ctx)
        vknmt_context_profile_report(cli->ctx, stderr);
    if (cli->inst && vknmt_instance_validation_count(cli->inst))
        fprintf(stderr, "vknmt: the validation layer reported %u message(s); the last: %s\n",
                vknmt_instance_validation_count(cli->inst), vknmt_instance_validation_last(cli->inst));
    vknmt_context_destroy(cli->ctx);
    vknmt_instance_destroy(cli->inst);
    cli->ctx = NULL;
    cli->inst = NULL;
}

int main(int argc, char **argv)
{
    vknmt_cli cli = {0};
    int i = 1;
    for (; i < argc && argv[i][0] == '-'; i++) {
        if (strcmp(argv[i], "--device") == 0)
            cli.device = vknmt_cli_value(argc, argv, &i);
        else if (strcmp(argv[i], "--validation") == 0)
            cli.validation = true;
        else if (strcmp(argv[i], "--cpu-inline") == 0)
            cli.cpu_inline = true;
        else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            usage(stdout);
            return 0;
        } else {
            fprintf(stderr, "vknmt: unknown option %s\n", argv[i]);
            usage(stderr);
            return 2;
        }
    }
    if (i >= argc) {
        usage(stderr);
        return 2;
    }
    const char *cmd = argv[i];
    int sub_argc = argc - i;
    char **sub_argv = argv + i;
    int rc;
    if (strcmp(cmd, "devices") == 0)
        rc = vknmt_cmd_devices(&cli, sub_argc, sub_argv);
    else if (strcmp(cmd, "eval") == 0)
        rc = vknmt_cmd_eval(&cli, sub_argc, sub_argv);
    else if (strcmp(cmd, "bleu") == 0)
        rc = vknmt_cmd_bleu(&cli, sub_argc, sub_argv);
    else if (strcmp(cmd, "align") == 0)
        rc = vknmt_cmd_align(&cli, sub_argc, sub_argv);
    else if (strcmp(cmd, "translate") == 0)
        rc = vknmt_cmd_translate(&cli, sub_argc, sub_argv);
    else if (strcmp(cmd, "train") == 0)
        rc = vknmt_cmd_train(&cli, sub_argc, sub_argv);
    else if (strcmp(cmd, "corpus") == 0)
        rc = vknmt_cmd_corpus(&cli, sub_argc, sub_argv);
    else if (strcmp(cmd, "grad") == 0)
        rc = vknmt_cmd_grad(&cli, sub_argc, sub_argv);
    else if (strcmp(cmd, "bench") == 0) {
        vknmt_bench_prepare();
        rc = vknmt_cmd_bench(&cli, sub_argc, sub_argv);
    } else {
        fprintf(stderr, "vknmt: unknown command '%s'\n", cmd);
        usage(stderr);
        return 2;
    }
    vknmt_cli_close(&cli);
    return rc;
}
