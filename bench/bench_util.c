/* Helpers the benches share: sorting, JSON output, finding shared/. */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "bench.h"

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

bool vknmt_bench_is_file(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

bool vknmt_bench_is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

bool vknmt_bench_find_shared(char *out, size_t size)
{
    const char *env = getenv("VKNMT_SHARED");
    if (env && *env) {
        snprintf(out, size, "%s", env);
        return vknmt_bench_is_dir(out);
    }
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (n > 0) {
        exe[n] = 0;
        char *slash = strrchr(exe, '/');
        if (slash) {
            *slash = 0;
            static const char *const up[] = {"/../../shared", "/../shared"};
            for (size_t i = 0; i < sizeof(up) / sizeof(up[0]); i++) {
                int len = snprintf(out, size, "%s%s", exe, up[i]);
                if (len > 0 && (size_t)len < size && vknmt_bench_is_dir(out))
                    return true;
            }
        }
    }
    static const char *const rel[] = {"shared", "../shared"};
    for (size_t i = 0; i < sizeof(rel) / sizeof(rel[0]); i++) {
        snprintf(out, size, "%s", rel[i]);
        if (vknmt_bench_is_dir(out))
            return true;
    }
    return false;
}

void vknmt_bench_json_number(FILE *out, double v, const char *fmt)
{
    if (isfinite(v))
        fprintf(out, fmt, v);
    else
        fputs("null", out);
}

