/* Option values of the vknmt subcommands, parsed strictly: "5x", "-1", ""
 * and out-of-range numbers are a usage error that names the option, never a
 * silent 0 or a wrapped-around count. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli.h"

const char *vknmt_cli_value(int argc, char **argv, int *i)
{
    if (*i + 1 >= argc) {
        fprintf(stderr, "vknmt: %s needs a value\n", argv[*i]);
        exit(2);
    }
    return argv[++*i];
}

uint64_t vknmt_cli_count(const char *cmd, const char *opt, const char *v, uint64_t lo, uint64_t hi)
{
    char *end;
    errno = 0;
    unsigned long long x = strtoull(v, &end, 10);
    if (errno || end == v || *end || v[0] == '-' || v[0] == '+' || x < lo || x > hi) {
        if (lo == 0 && hi == UINT64_MAX)
            fprintf(stderr, "vknmt %s: %s expects a whole number, not '%s'\n", cmd, opt, v);
        else
            fprintf(stderr, "vknmt %s: %s expects a whole number %llu .. %llu, not '%s'\n", cmd, opt,
                    (unsigned long long)lo, (unsigned long long)hi, v);
        exit(2);
    }
    return x;
}

double vknmt_cli_real(const char *cmd, const char *opt, const char *v, double lo, double hi)
{
    char *end;
    errno = 0;
    double x = strtod(v, &end);
    if (errno || end == v || *end || !isfinite(x) || x < lo || x > hi) {
        fprintf(stderr, "vknmt %s: %s expects a number %g .. %g, not '%s'\n", cmd, opt, lo, hi, v);
        exit(2);
    }
    return x;
}
