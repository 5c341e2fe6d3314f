/* vknmt corpus bible: the Spanish->English Bible corpus from Debian's SWORD
 * packages (bible_corpus.h). Needs no device. */
#include <stdio.h>
#include <string.h>

#include "bible_corpus.h"
#include "cli.h"

static void corpus_usage(FILE *out)
{
    fprintf(out, "usage: vknmt corpus bible --out DIR [--src-imp FILE --tgt-imp FILE]\n"
                 "\n"
                 "Makes DIR/{train,dev,test}.{es,en,ref}: Reina-Valera 1909 (spaRV1909eb) and the\n"
                 "World English Bible (engWEB2015eb) verse by verse, split by whole books as in\n"
                 "shared/data/bible-es-en. Runs mod2imp (packages libsword-utils sword-text-sparv\n"
                 "sword-text-web) unless --src-imp/--tgt-imp give its dumps.\n");
}

int vknmt_cmd_corpus(vknmt_cli *cli, int argc, char **argv)
{
    (void)cli; /* no device */
    vknmt_bible_options opt = {0};
    const char *out_dir = NULL;
    int i = 1;
    if (i < argc && (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0)) {
        corpus_usage(stdout);
        return 0;
    }
    if (i >= argc || strcmp(argv[i], "bible") != 0) {
        fprintf(stderr, "vknmt corpus: %s\n", i < argc ? "unknown corpus (only 'bible')" : "which corpus?");
        corpus_usage(stderr);
        return 2;
    }
    for (i++; i < argc; i++) {
        if (strcmp(argv[i], "--out") == 0)
            out_dir = vknmt_cli_value(argc, argv, &i);
        else if (strcmp(argv[i], "--src-imp") == 0)
            opt.src_imp = vknmt_cli_value(argc, argv, &i);
        else if (strcmp(argv[i], "--tgt-imp") == 0)
            opt.tgt_imp = vknmt_cli_value(argc, argv, &i);
        else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            corpus_usage(stdout);
            return 0;
        } else {
            fprintf(stderr, "vknmt corpus: unknown option %s\n", argv[i]);
            corpus_usage(stderr);
            return 2;
        }
    }
    if (!out_dir) {
        fprintf(stderr, "vknmt corpus: --out DIR is required\n");
        return 2;
    }
    char err[512];
    vknmt_bible *b = NULL;
    vknmt_status st = vknmt_bible_build(&opt, &b, err, sizeof(err));
    if (st != VKNMT_OK) {
        fprintf(stderr, "vknmt: %s\n", err);
        return 1;
    }
    vknmt_bible_split_stats stats[VKNMT_BIBLE_SPLITS];
    st = vknmt_bible_write(b, out_dir, stats, err, sizeof(err));
    vknmt_bible_destroy(b);
    if (st != VKNMT_OK) {
        fprintf(stderr, "vknmt: %s\n", err);
        return 1;
    }
    for (int s = 0; s < VKNMT_BIBLE_SPLITS; s++) {
        const char *name = vknmt_bible_split_name((vknmt_bible_split)s);
        printf("%-5s %6llu pairs, %7llu es words, %7llu en words -> %s/%s.{es,en,ref}\n", name,
               (unsigned long long)stats[s].pairs, (unsigned long long)stats[s].src_words,
               (unsigned long long)stats[s].tgt_words, out_dir, name);
    }
    return 0;
}
