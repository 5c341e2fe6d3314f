/* Replacing <unk> in an output by the source word it attends to most,
 * through a dictionary when it has the word. */
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "source_line.h"

static void test_replace(th_env *env)
{
    (void)env;
    const char *vt = "<pad>\n<unk>\n<s>\n</s>\nthe\nhouse\n";
    char err[256];
    vknmt_vocab *v = NULL;
    CHECK(vknmt_vocab_from_string(vt, strlen(vt), "test", &v, err, sizeof(err)) == VKNMT_OK, "%s", err);
    char *toks[3] = {strdup("la"), strdup("casa"), strdup("Juan")};
    int32_t ids[4] = {4, 5, 1, 3};
    vknmt_source_line src = {.tokens = toks, .ntok = 3, .ids = ids};
    /* "the <unk> <unk> </s>": the first <unk> looks at "Juan", the second
     * at "casa"; the </s> column (weight 0.9 in row 2) never counts */
    int32_t out[4] = {4, 1, 1, 3};
    float alpha[4 * 4] = {0.7f, 0.1f, 0.1f, 0.1f, 0.1f, 0.1f, 0.7f, 0.1f, 0.0f, 0.06f, 0.04f, 0.9f, 0.25f, 0.25f, 0.25f, 0.25f};
    vknmt_translation tr = {4, out, -1.0, 4, alpha};
    char *text = vknmt_translation_text(&tr, v, &src, NULL);
    CHECK(text && strcmp(text, "the Juan casa") == 0, "replaced: '%s'", text ? text : "(null)");
    free(text);
    text = vknmt_translation_text(&tr, v, NULL, NULL);
    CHECK(text && strcmp(text, "the <unk> <unk>") == 0, "kept: '%s'", text ? text : "(null)");
    free(text);
    /* with a dictionary: casa -> house; Juan stays */
    char path[] = "/tmp/vknmt-dict-XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0, "mkstemp");
    FILE *f = fdopen(fd, "w");
    fputs("casa house\nperro dog\n", f);
    fclose(f);
    vknmt_dict *d = NULL;
    CHECK(vknmt_dict_load(path, &d, err, sizeof(err)) == VKNMT_OK, "%s", err);
    text = vknmt_translation_text(&tr, v, &src, d);
    CHECK(text && strcmp(text, "the Juan house") == 0, "dictionary: '%s'", text ? text : "(null)");
    free(text);
    vknmt_dict_destroy(d);
    f = fopen(path, "w");
    fputs("casa house\nperro\n", f);
    fclose(f);
    CHECK(vknmt_dict_load(path, &d, err, sizeof(err)) == VKNMT_ERR_INPUT && strstr(err, ":2:"), "bad dict: %s", err);
    remove(path);
    for (int i = 0; i < 3; i++)
        free(toks[i]);
    vknmt_vocab_destroy(v);
}

void th_register_unkreplace(void) { th_add("unkreplace", "attention_copy_and_dictionary", test_replace); }
