/*
 * download: a tiny wget-like program in C99 that uses nothing but resumedl.h.
 *
 *   download URL OUTPUT [--no-resume] [--retries N] [--sha256 HEX] [--cacert FILE]
 *                       [-H 'Name: value']...
 *
 * Run it again after an interruption and it continues where it stopped. Progress goes to
 * stderr. On success one machine-readable line goes to stdout:
 *
 *   kind=resumed resumed_from=N received=N total=N attempts=N status=N
 *
 * where kind is fresh, resumed, restarted or already_complete and total may be
 * "unknown". On failure one line goes to stderr,
 *
 *   download: RDL_ERR_HTTP_STATUS: <what failed>
 *
 * and the exit status is the RDL_ERR_* code, so scripts and tests can tell failures apart;
 * a usage error exits with 64 (EX_USAGE), which no RDL_ERR_* code uses.
 *
 * For tests: with RDL_EXAMPLE_ABORT_AT=N in the environment, the progress callback cancels
 * once N bytes are on disk (exit RDL_ERR_ABORTED_BY_CALLBACK, partial file kept).
 */

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "resumedl.h"

#define EXIT_USAGE 64
/* parse_args: --help was printed, exit 0. */
#define HELP_SHOWN (-1)

static const char USAGE[] =
    "usage: download URL OUTPUT [--no-resume] [--retries N] [--sha256 HEX]\n"
    "                           [--cacert FILE] [-H 'Name: value']...\n";

/* Handed to the progress callback as its userdata. */
struct progress {
    int drawn;          /* a progress line is on screen and needs its newline */
    int abort_enabled;  /* RDL_EXAMPLE_ABORT_AT was set */
    uint64_t abort_at;
};

/* Called by rdl_download on this thread, at most every 100 ms and once at the end. */
static int on_progress(void *userdata, uint64_t downloaded, uint64_t total)
{
    struct progress *p = (struct progress *)userdata;
    if (total == RDL_UNKNOWN) {
        fprintf(stderr, "\r  %" PRIu64 " bytes", downloaded);
    } else {
        fprintf(stderr, "\r  %" PRIu64 " / %" PRIu64 " bytes", downloaded, total);
    }
    p->drawn = 1;
    return p->abort_enabled && downloaded >= p->abort_at;
}

/* Whole decimal number, nothing else: strtoull alone accepts "-1", " 7" and "7x". */
static int parse_u64(const char *s, uint64_t *out)
{
    char *end;
    unsigned long long v;
    if (*s < '0' || *s > '9') {
        return 0;
    }
    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno != 0 || *end != '\0') {
        return 0;
    }
    *out = (uint64_t)v;
    return 1;
}

static const char *kind_name(int kind)
{
    switch (kind) {
    case RDL_KIND_FRESH:
        return "fresh";
    case RDL_KIND_RESUMED:
        return "resumed";
    case RDL_KIND_RESTARTED:
        return "restarted";
    case RDL_KIND_ALREADY_COMPLETE:
        return "already_complete";
    default:
        return "unknown";
    }
}

/*
 * Prints "download: <code name>: <message>" for a failed rdl_* call. The message is copied
 * first: it is only valid until the next rdl_* call on this thread.
 */
static void report(int rc)
{
    const char *msg = rdl_last_error_message();
    size_t len = strlen(msg);
    char *copy = (char *)malloc(len + 1);
    if (copy != NULL) {
        memcpy(copy, msg, len + 1);
    }
    fprintf(stderr, "download: %s: %s\n", rdl_code_name(rc),
            copy != NULL ? copy : "(out of memory)");
    free(copy);
}

static int usage(const char *why)
{
    fprintf(stderr, "download: %s\n%s", why, USAGE);
    return EXIT_USAGE;
}

/* Adds "Name: value" (spaces after the colon skipped) as a request header. */
static int add_header(rdl_options *opts, const char *line)
{
    const char *colon = strchr(line, ':');
    const char *value;
    size_t name_len;
    char *name;
    int rc;
    if (colon == NULL || colon == line) {
        return -1;
    }
    name_len = (size_t)(colon - line);
    name = (char *)malloc(name_len + 1);
    if (name == NULL) {
        return -1;
    }
    memcpy(name, line, name_len);
    name[name_len] = '\0';
    value = colon + 1;
    while (*value == ' ' || *value == '\t') {
        value++;
    }
    rc = rdl_options_add_header(opts, name, value);
    free(name);
    return rc;
}

/*
 * Applies the command line to opts; returns RDL_OK, an RDL_ERR_* code (already reported),
 * EXIT_USAGE or HELP_SHOWN.
 */
static int parse_args(int argc, char **argv, rdl_options *opts, const char **url,
                      const char **output)
{
    int i;
    int positional = 0;
    int only_positional = 0;
    for (i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *next = i + 1 < argc ? argv[i + 1] : NULL;
        int rc = RDL_OK;
        if (only_positional || a[0] != '-' || a[1] == '\0') {
            if (positional == 0) {
                *url = a;
            } else if (positional == 1) {
                *output = a;
            } else {
                return usage("too many arguments");
            }
            positional++;
            continue;
        }
        if (strcmp(a, "--") == 0) {
            only_positional = 1;
        } else if (strcmp(a, "--no-resume") == 0) {
            rc = rdl_options_set_resume(opts, 0);
        } else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            fputs(USAGE, stdout);
            return HELP_SHOWN;
        } else if (next == NULL) {
            return usage("unknown option or missing value");
        } else if (strcmp(a, "--retries") == 0) {
            uint64_t n;
            if (!parse_u64(next, &n) || n > UINT32_MAX) {
                return usage("--retries needs a whole number");
            }
            rc = rdl_options_set_retries(opts, (uint32_t)n);
            i++;
        } else if (strcmp(a, "--sha256") == 0) {
            rc = rdl_options_set_sha256(opts, next);
            i++;
        } else if (strcmp(a, "--cacert") == 0) {
            rc = rdl_options_set_ca_file(opts, next);
            i++;
        } else if (strcmp(a, "-H") == 0 || strcmp(a, "--header") == 0) {
            rc = add_header(opts, next);
            if (rc < 0) {
                return usage("a header looks like 'Name: value'");
            }
            i++;
        } else {
            return usage("unknown option");
        }
        if (rc != RDL_OK) {
            report(rc);
            return rc;
        }
    }
    if (positional != 2) {
        return usage("URL and OUTPUT are required");
    }
    return 0;
}

int main(int argc, char **argv)
{
    const char *url = NULL;
    const char *output = NULL;
    const char *abort_at = getenv("RDL_EXAMPLE_ABORT_AT");
    struct progress progress = {0, 0, 0};
    rdl_outcome out;
    rdl_options *opts;
    int rc;

    if (abort_at != NULL) {
        if (!parse_u64(abort_at, &progress.abort_at)) {
            return usage("RDL_EXAMPLE_ABORT_AT needs a whole number");
        }
        progress.abort_enabled = 1;
    }
    opts = rdl_options_new();
    if (opts == NULL) {
        report(RDL_ERR_PANIC);
        return RDL_ERR_PANIC;
    }
    rc = parse_args(argc, argv, opts, &url, &output);
    if (rc == RDL_OK) {
        rc = rdl_options_set_progress(opts, on_progress, &progress);
    }
    if (rc == RDL_OK) {
        /* The library fills in only what fits in `size`: the struct may grow (resumedl.h). */
        out.size = sizeof out;
        rc = rdl_download(url, output, opts, &out);
        if (progress.drawn) {
            fputc('\n', stderr);
        }
        if (rc != RDL_OK) {
            report(rc);
        }
    }
    rdl_options_free(opts);
    if (rc == HELP_SHOWN) {
        return 0;
    }
    if (rc != RDL_OK) {
        return rc;
    }

    printf("kind=%s resumed_from=%" PRIu64 " received=%" PRIu64, kind_name(out.kind),
           out.resumed_from, out.received);
    if (out.total == RDL_UNKNOWN) {
        printf(" total=unknown");
    } else {
        printf(" total=%" PRIu64, out.total);
    }
    printf(" attempts=%" PRIu32 " status=%d\n", out.attempts, out.status);
    return 0;
}
