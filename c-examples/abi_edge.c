/*
 * abi_edge: checks the edges of the C ABI that a well-behaved program never reaches —
 * NULL and non-UTF-8 arguments, NULL options and outcome, the last-error contract.
 * Built and run by tests/c_abi.rs only:
 *
 *   abi_edge URL DIR SIZE
 *
 * URL serves SIZE bytes (loopback test server); DIR is an empty scratch directory.
 * Prints one line per failed check and exits 1 if any failed, 0 otherwise.
 */

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "resumedl.h"

static int failures = 0;

#define CHECK(cond)                                                            \
    do {                                                                       \
        if (!(cond)) {                                                         \
            fprintf(stderr, "abi_edge.c:%d: check failed: %s\n", __LINE__, #cond); \
            failures++;                                                        \
        }                                                                      \
    } while (0)

/* Copy of the thread's last error message (valid only until the next rdl_* call). */
static char last[4096];

static const char *last_error(void)
{
    const char *msg = rdl_last_error_message();
    if (msg == NULL) {
        return NULL;
    }
    snprintf(last, sizeof last, "%s", msg);
    return last;
}

static long file_size(const char *path)
{
    long size;
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        return -1;
    }
    if (fseek(f, 0, SEEK_END) != 0) {
        fclose(f);
        return -1;
    }
    size = ftell(f);
    fclose(f);
    return size;
}

static int file_exists(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f != NULL) {
        fclose(f);
    }
    return f != NULL;
}

int main(int argc, char **argv)
{
    const char *url;
    const char *dir;
    long size;
    char path[4096];
    char path2[4096];
    char path3[4096];
    char bad_utf8[] = {'x', (char)0xff, (char)0xfe, '\0'};
    rdl_outcome out;
    rdl_outcome sentinel;
    rdl_options *opts;
    const char *msg;
    int code;

    if (argc != 4) {
        fprintf(stderr, "usage: abi_edge URL DIR SIZE\n");
        return 2;
    }
    url = argv[1];
    dir = argv[2];
    size = strtol(argv[3], NULL, 10);
    snprintf(path, sizeof path, "%s/defaults.bin", dir);
    snprintf(path2, sizeof path2, "%s/no-outcome.bin", dir);
    snprintf(path3, sizeof path3, "%s/never.bin", dir);

    /* NULL url: an error with a message, not a crash; out is left alone. */
    memset(&sentinel, 0xab, sizeof sentinel);
    sentinel.size = sizeof sentinel;
    out = sentinel;
    CHECK(rdl_download(NULL, path3, NULL, &out) == RDL_ERR_INVALID_ARG);
    msg = last_error();
    CHECK(msg != NULL && strlen(msg) > 0);
    CHECK(msg != NULL && strstr(msg, "url") != NULL);
    CHECK(memcmp(&out, &sentinel, sizeof out) == 0);

    /* NULL path. */
    CHECK(rdl_download(url, NULL, NULL, NULL) == RDL_ERR_INVALID_ARG);
    msg = last_error();
    CHECK(msg != NULL && strstr(msg, "path") != NULL);

    /* Non-UTF-8 path and url. */
    CHECK(rdl_download(url, bad_utf8, NULL, NULL) == RDL_ERR_INVALID_ARG);
    msg = last_error();
    CHECK(msg != NULL && strstr(msg, "UTF-8") != NULL);
    CHECK(rdl_download(bad_utf8, path3, NULL, NULL) == RDL_ERR_INVALID_ARG);
    CHECK(!file_exists(path3));

    /* rdl_download_to_dir: the same contract, the directory named. */
    out = sentinel;
    CHECK(rdl_download_to_dir(url, NULL, NULL, &out) == RDL_ERR_INVALID_ARG);
    msg = last_error();
    CHECK(msg != NULL && strstr(msg, "dir") != NULL);
    CHECK(memcmp(&out, &sentinel, sizeof out) == 0);
    CHECK(rdl_download_to_dir(NULL, dir, NULL, &out) == RDL_ERR_INVALID_ARG);
    CHECK(rdl_download_to_dir(url, bad_utf8, NULL, &out) == RDL_ERR_INVALID_ARG);
    msg = last_error();
    CHECK(msg != NULL && strstr(msg, "UTF-8") != NULL);
    CHECK(memcmp(&out, &sentinel, sizeof out) == 0);

    /* Setters reject NULL options; add_header rejects NULL and non-UTF-8 strings. */
    CHECK(rdl_options_set_resume(NULL, 1) == RDL_ERR_INVALID_ARG);
    CHECK(rdl_options_set_retries(NULL, 1) == RDL_ERR_INVALID_ARG);
    CHECK(rdl_options_set_progress(NULL, NULL, NULL) == RDL_ERR_INVALID_ARG);
    CHECK(rdl_options_set_basic_auth(NULL, "u", "p") == RDL_ERR_INVALID_ARG);
    CHECK(rdl_options_set_content_disposition(NULL, 1) == RDL_ERR_INVALID_ARG);
    CHECK(rdl_options_set_overwrite(NULL, 1) == RDL_ERR_INVALID_ARG);
    CHECK(rdl_options_add_header(NULL, "A", "b") == RDL_ERR_INVALID_ARG);
    opts = rdl_options_new();
    CHECK(opts != NULL);
    CHECK(rdl_options_add_header(opts, NULL, "b") == RDL_ERR_INVALID_ARG);
    CHECK(rdl_options_add_header(opts, "A", NULL) == RDL_ERR_INVALID_ARG);
    CHECK(rdl_options_add_header(opts, bad_utf8, "b") == RDL_ERR_INVALID_ARG);
    CHECK(rdl_options_set_basic_auth(opts, NULL, "p") == RDL_ERR_INVALID_ARG);
    CHECK(rdl_options_set_basic_auth(opts, "u", bad_utf8) == RDL_ERR_INVALID_ARG);
    CHECK(strstr(rdl_last_error_message(), "password") != NULL);
    /* NULL clears the optional strings. */
    CHECK(rdl_options_set_sha256(opts, NULL) == RDL_OK);
    CHECK(rdl_options_set_ca_file(opts, NULL) == RDL_OK);
    CHECK(rdl_options_set_proxy(opts, NULL) == RDL_OK);
    /* Headers the resume logic owns are refused when the download starts. */
    CHECK(rdl_options_add_header(opts, "Range", "bytes=0-") == RDL_OK);
    CHECK(rdl_download(url, path3, opts, NULL) == RDL_ERR_INVALID_ARG);
    msg = last_error();
    CHECK(msg != NULL && strstr(msg, "Range") != NULL);
    CHECK(!file_exists(path3));
    rdl_options_free(opts);
    /* Freeing options leaves the last error alone: it can be read after cleanup. */
    CHECK(strstr(rdl_last_error_message(), "Range") != NULL);
    rdl_options_free(NULL);

    /* The status of a failed download is there without parsing the message. */
    {
        char missing[1024];
        snprintf(missing, sizeof missing, "%s-missing", url);
        CHECK(rdl_download(missing, path3, NULL, NULL) == RDL_ERR_HTTP_STATUS);
        CHECK(rdl_last_error_http_status() == 404);
        CHECK(!file_exists(path3));
        CHECK(rdl_download(url, NULL, NULL, NULL) == RDL_ERR_INVALID_ARG);
        CHECK(rdl_last_error_http_status() == 0);
    }

    /* opts NULL means defaults; the outcome is filled on success. */
    memset(&out, 0, sizeof out);
    out.size = sizeof out;
    code = rdl_download(url, path, NULL, &out);
    CHECK(code == RDL_OK);
    if (code != RDL_OK) {
        fprintf(stderr, "  %s: %s\n", rdl_code_name(code), last_error());
    }
    CHECK(rdl_last_error_message() != NULL);
    CHECK(out.status == 200);
    CHECK(out.kind == RDL_KIND_FRESH);
    CHECK(out.resumed_from == 0);
    CHECK(out.received == (uint64_t)size);
    CHECK(out.total == (uint64_t)size);
    CHECK(out.attempts == 1);
    CHECK(RDL_OUTCOME_HAS(&out, path) && strcmp(out.path, path) == 0);
    CHECK(file_size(path) == size);

    /* Again: already complete, nothing downloaded. */
    out.size = sizeof out;
    code = rdl_download(url, path, NULL, &out);
    CHECK(code == RDL_OK);
    CHECK(out.kind == RDL_KIND_ALREADY_COMPLETE);
    CHECK(out.received == 0);
    CHECK(out.resumed_from == (uint64_t)size);

    /* out NULL is allowed; a success after a failure leaves its message alone. */
    CHECK(rdl_download(NULL, path2, NULL, NULL) == RDL_ERR_INVALID_ARG);
    CHECK(strstr(rdl_last_error_message(), "NULL") != NULL);
    CHECK(rdl_download(url, path2, NULL, NULL) == RDL_OK);
    CHECK(strstr(rdl_last_error_message(), "NULL") != NULL);
    CHECK(file_size(path2) == size);

    /* Static strings. */
    for (code = RDL_OK; code <= RDL_ERR_PANIC; code++) {
        const char *name = rdl_code_name(code);
        CHECK(name != NULL && strncmp(name, "RDL_", 4) == 0);
        CHECK(name != NULL && strcmp(name, "RDL_UNKNOWN_CODE") != 0);
    }
    CHECK(strcmp(rdl_code_name(RDL_OK), "RDL_OK") == 0);
    CHECK(strcmp(rdl_code_name(RDL_ERR_HTTP_STATUS), "RDL_ERR_HTTP_STATUS") == 0);
    CHECK(strcmp(rdl_code_name(-1), "RDL_UNKNOWN_CODE") == 0);
    CHECK(strcmp(rdl_code_name(1000), "RDL_UNKNOWN_CODE") == 0);
    CHECK(rdl_version() != NULL && strlen(rdl_version()) > 0);
    CHECK(rdl_version() != NULL && strchr(rdl_version(), '.') != NULL);

    if (failures > 0) {
        fprintf(stderr, "abi_edge: %d check(s) failed\n", failures);
        return 1;
    }
    printf("abi_edge: all checks passed (resumedl %s)\n", rdl_version());
    return 0;
}
