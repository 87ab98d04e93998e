/*
 * One rdl_session for many downloads, from C: its connection is reused (the Rust test
 * counts the server's connections), setting it up after its first use is refused,
 * batched syncs are flushed, and after fork() the child opens its own connection.
 * Built and run by tests/c_abi.rs:
 *
 *     session BASE_URL DIR COUNT
 *
 * downloads BASE_URL/s0.bin ... BASE_URL/s<COUNT-1>.bin into DIR (names from the
 * server), then BASE_URL/child.bin in a forked child and BASE_URL/after.bin in the parent.
 * Prints "ok" and exits 0 when every check holds.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "resumedl.h"

static int failures;

#define CHECK(cond)                                                                     \
    do {                                                                                \
        if (!(cond)) {                                                                  \
            fprintf(stderr, "session.c:%d: CHECK(%s) failed (last error: %s)\n",        \
                    __LINE__, #cond, rdl_last_error_message());                         \
            failures++;                                                                 \
        }                                                                               \
    } while (0)

static int exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

int main(int argc, char **argv)
{
    char url[2048], path[4096];
    rdl_session *session;
    rdl_options *opts;
    rdl_outcome out;
    int i, count, status;
    pid_t child;

    if (argc != 4) {
        fprintf(stderr, "usage: session BASE_URL DIR COUNT\n");
        return 2;
    }
    count = atoi(argv[3]);

    session = rdl_session_new();
    CHECK(session != NULL);
    CHECK(rdl_session_set_max_connections_per_host(session, 4) == RDL_OK);
    CHECK(rdl_session_set_batch_syncs(session, 1) == RDL_OK);
    CHECK(rdl_session_set_max_connections_per_host(NULL, 4) == RDL_ERR_INVALID_ARG);
    opts = rdl_options_new();
    CHECK(rdl_options_set_session(opts, session) == RDL_OK);
    CHECK(rdl_options_set_session(NULL, session) == RDL_ERR_INVALID_ARG);

    for (i = 0; i < count; i++) {
        snprintf(url, sizeof url, "%s/s%d.bin", argv[1], i);
        out.size = sizeof out;
        CHECK(rdl_download_to_dir(url, argv[2], opts, &out) == RDL_OK);
        CHECK(out.kind == RDL_KIND_FRESH);
    }
    /* Set up once: the session is in use now. */
    CHECK(rdl_session_set_batch_syncs(session, 0) == RDL_ERR_INVALID_ARG);
    CHECK(strstr(rdl_last_error_message(), "in use") != NULL);
    /* Every finished file recorded: no control file left. */
    CHECK(rdl_session_flush(session) == RDL_OK);
    for (i = 0; i < count; i++) {
        snprintf(path, sizeof path, "%s/s%d.bin.rdl", argv[2], i);
        CHECK(!exists(path));
    }

    /* The child must not use the parent's connection: it opens its own. */
    fflush(NULL);
    child = fork();
    if (child == 0) {
        snprintf(url, sizeof url, "%s/child.bin", argv[1]);
        out.size = sizeof out;
        if (rdl_download_to_dir(url, argv[2], opts, &out) != RDL_OK ||
            rdl_session_flush(session) != RDL_OK) {
            fprintf(stderr, "child: %s\n", rdl_last_error_message());
            _exit(1);
        }
        _exit(0);
    }
    CHECK(child > 0);
    CHECK(waitpid(child, &status, 0) == child && WIFEXITED(status) && WEXITSTATUS(status) == 0);
    /* The parent's connection still works after the child's download. */
    snprintf(url, sizeof url, "%s/after.bin", argv[1]);
    out.size = sizeof out;
    CHECK(rdl_download_to_dir(url, argv[2], opts, &out) == RDL_OK);

    rdl_options_free(opts);
    rdl_session_free(session);
    snprintf(path, sizeof path, "%s/after.bin.rdl", argv[2]);
    CHECK(!exists(path));
    if (failures) {
        fprintf(stderr, "%d check(s) failed\n", failures);
        return 1;
    }
    printf("ok\n");
    return 0;
}
