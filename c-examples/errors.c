/*
 * The last error's lifetime, rdl_strerror, the version number and the symbol version,
 * as a C program sees them. Built and run by tests/c_abi.rs:
 *
 *     errors URL MISSING_URL DIR
 *
 * URL serves a file, MISSING_URL answers 404, DIR is an empty writable directory.
 * Prints "ok" and exits 0 when every check holds.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "resumedl.h"

static int failures;

#define CHECK(cond)                                                                     \
    do {                                                                                \
        if (!(cond)) {                                                                  \
            fprintf(stderr, "errors.c:%d: CHECK(%s) failed (last error: %s)\n",         \
                    __LINE__, #cond, rdl_last_error_message());                         \
            failures++;                                                                 \
        }                                                                               \
    } while (0)

#define STR2(x) #x
#define STR(x) STR2(x)

int main(int argc, char **argv)
{
    char missing_dir_file[4096], ok1[4096], ok2[4096], line[8192], copy[4096];
    const char *msg;
    const char *url, *missing, *dir;
    int rc;
    void *sym;
    int (*found)(const char *, const char *, const rdl_options *, rdl_outcome *);

    if (argc != 4) {
        fprintf(stderr, "usage: errors URL MISSING_URL DIR\n");
        return 2;
    }
    url = argv[1];
    missing = argv[2];
    dir = argv[3];
    snprintf(missing_dir_file, sizeof missing_dir_file, "%s/no/such/dir/f.bin", dir);
    snprintf(ok1, sizeof ok1, "%s/ok1.bin", dir);
    snprintf(ok2, sizeof ok2, "%s/ok2.bin", dir);

    /* Before any failure: "", never NULL. */
    CHECK(rdl_last_error_message() != NULL && rdl_last_error_message()[0] == '\0');
    CHECK(rdl_last_error_path() != NULL && rdl_last_error_path()[0] == '\0');

    /* A file error: its errno and its path. */
    rc = rdl_download(url, missing_dir_file, NULL, NULL);
    CHECK(rc == RDL_ERR_IO);
    CHECK(rdl_last_error_errno() == ENOENT);
    CHECK(strstr(rdl_last_error_path(), "no/such/dir") != NULL);
    msg = rdl_last_error_message();
    snprintf(copy, sizeof copy, "%s", msg);
    CHECK(strstr(copy, "no/such/dir") != NULL);

    /* Successful calls leave the message alone, at the same address. */
    CHECK(rdl_download(url, ok1, NULL, NULL) == RDL_OK);
    CHECK(rdl_last_error_message() == msg);
    CHECK(strcmp(msg, copy) == 0);

    /* The habit that printed garbage: a call and the message in one argument list.
     * Whichever is evaluated first, the string is alive. */
    snprintf(line, sizeof line, "%s / %s / %s", rdl_strerror(rdl_download(url, ok2, NULL, NULL)),
             rdl_last_error_message(), rdl_strerror(rc));
    CHECK(strstr(line, "no error / ") == line);
    CHECK(strstr(line, copy) != NULL);
    CHECK(strstr(line, rdl_strerror(RDL_ERR_IO)) != NULL);

    /* The next failure replaces it: a 404 has a status, no errno, no path. */
    rc = rdl_download(missing, ok2, NULL, NULL);
    CHECK(rc == RDL_ERR_HTTP_STATUS);
    CHECK(rdl_last_error_http_status() == 404);
    CHECK(rdl_last_error_errno() == 0);
    CHECK(rdl_last_error_path()[0] == '\0');
    CHECK(strstr(rdl_last_error_message(), "404") != NULL);

    /* A human message per code, static. */
    CHECK(strcmp(rdl_strerror(RDL_ERR_TIMEOUT), "timed out") == 0);
    CHECK(strcmp(rdl_strerror(RDL_OK), "no error") == 0);
    CHECK(strcmp(rdl_strerror(999), "unknown error code") == 0);
    CHECK(strcmp(rdl_strerror(-1), "unknown error code") == 0);

    /* One comparable number, the same in the header and the library. */
    CHECK(RDL_VERSION_NUM ==
          ((RDL_VERSION_MAJOR << 16) | (RDL_VERSION_MINOR << 8) | RDL_VERSION_PATCH));
    CHECK(rdl_version_num() == RDL_VERSION_NUM);
#if RDL_VERSION_NUM < 0x000200
    CHECK(!"RDL_VERSION_NUM is usable in #if");
#endif

    /* The symbols carry the version node of the SONAME; another major's is not there. */
    sym = dlvsym(RTLD_DEFAULT, "rdl_download", "libresumedl.so." STR(RDL_VERSION_MAJOR));
    CHECK(sym != NULL);
    if (sym != NULL) {
        memcpy(&found, &sym, sizeof found); /* ISO C has no void * to function cast */
        CHECK(found == rdl_download);
    }
    CHECK(dlvsym(RTLD_DEFAULT, "rdl_download", "libresumedl.so.99") == NULL);

    if (failures) {
        fprintf(stderr, "%d check(s) failed\n", failures);
        return 1;
    }
    printf("ok\n");
    return 0;
}
