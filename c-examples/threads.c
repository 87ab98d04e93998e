/*
 * threads: 8 POSIX threads download at the same time — successes, failures, a cancel and
 * its resume, a resume of a partial file — and every thread checks its own files byte for
 * byte and its own rdl_last_error_message(), which is thread-local. Built and run by
 * tests/hardening.rs only (also under ASan+UBSan and valgrind):
 *
 *   threads BASE_URL DIR SIZE CLOSED_URL [CONNECTIONS]
 *
 * With CONNECTIONS (default 1), every download may use that many connections
 * (rdl_options_set_connections, parts of at least 64 KiB): N threads x N connections.
 *
 * BASE_URL/t<i>.bin serves SIZE bytes of pattern(SIZE, 100 + i) (the xorshift stream of
 * tests/support/mod.rs), BASE_URL/missing.bin is a 404 and CLOSED_URL refuses
 * connections. Prints one line per failed check; exits 1 if any failed.
 */

/* pthread_barrier_t is POSIX.1-2001, hidden by a strict -std=c99. */
#define _POSIX_C_SOURCE 200112L

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "resumedl.h"

#define THREADS 8
#define ROUNDS 2

static const char *base_url;
static const char *dir;
static const char *closed_url;
static long size;
static uint32_t connections = 1;
static pthread_barrier_t start;

struct worker {
    int index;
    int failures;
    pthread_t self;
    /* The progress callback cancels once this many bytes are on disk (0: never). */
    uint64_t cancel_at;
    int progress_calls;
    int progress_on_other_thread;
};

#define CHECK(w, cond)                                                                 \
    do {                                                                               \
        if (!(cond)) {                                                                 \
            fprintf(stderr, "threads.c:%d: thread %d: check failed: %s (last error: %s)\n", \
                    __LINE__, (w)->index, #cond, rdl_last_error_message());            \
            (w)->failures++;                                                           \
        }                                                                              \
    } while (0)

/* pattern() of tests/support/mod.rs: the bytes the server holds for t<i>.bin. */
static unsigned char *pattern(size_t len, uint64_t seed)
{
    unsigned char *out = (unsigned char *)malloc(len + 8);
    uint64_t x = ((seed ^ UINT64_C(0x9E3779B97F4A7C15)) * UINT64_C(0xBF58476D1CE4E5B9)) | 1;
    size_t n = 0;
    int i;
    if (out == NULL) {
        return NULL;
    }
    while (n < len) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        for (i = 0; i < 8; i++) {
            out[n++] = (unsigned char)(x >> (8 * i));
        }
    }
    return out;
}

/* Sets `len` to the file's length (-1: no such file) and returns whether its bytes are
 * the first `len` bytes of `want`. */
static int check_file(const char *path, const unsigned char *want, long *len)
{
    FILE *f = fopen(path, "rb");
    unsigned char buf[65536];
    long pos = 0;
    size_t got;
    int same = 1;
    *len = -1;
    if (f == NULL) {
        return 1;
    }
    while ((got = fread(buf, 1, sizeof buf, f)) > 0) {
        if (pos + (long)got > size || memcmp(buf, want + pos, got) != 0) {
            same = 0;
        }
        pos += (long)got;
    }
    fclose(f);
    *len = pos;
    return same;
}

static int on_progress(void *userdata, uint64_t downloaded, uint64_t total)
{
    struct worker *w = (struct worker *)userdata;
    (void)total;
    w->progress_calls++;
    if (!pthread_equal(pthread_self(), w->self)) {
        w->progress_on_other_thread++;
    }
    return w->cancel_at > 0 && downloaded >= w->cancel_at;
}

/* Downloads with a progress callback and a fresh outcome; returns the code. */
static int fetch(struct worker *w, const char *url, const char *path, rdl_options *opts,
                 rdl_outcome *out)
{
    int own = opts == NULL;
    int rc;
    if (own) {
        opts = rdl_options_new();
    }
    rdl_options_set_progress(opts, on_progress, w);
    rdl_options_set_retries(opts, 0);
    rdl_options_set_connections(opts, connections);
    rdl_options_set_min_split_size(opts, 64 * 1024);
    memset(out, 0, sizeof *out);
    out->size = sizeof *out;
    rc = rdl_download(url, path, opts, out);
    if (own) {
        /* Leaves the last error alone. */
        rdl_options_free(opts);
    }
    return rc;
}

/* The last error names `what`, and a harmless call in between does not change it. */
static void check_error(struct worker *w, const char *what)
{
    char copy[1024];
    snprintf(copy, sizeof copy, "%s", rdl_last_error_message());
    CHECK(w, strstr(copy, what) != NULL);
    (void)rdl_code_name(RDL_ERR_IO);
    (void)rdl_version();
    CHECK(w, strcmp(copy, rdl_last_error_message()) == 0);
}

static void run_round(struct worker *w, int round, const unsigned char *body)
{
    char url[2048];
    char path[4096];
    char aside[4200];
    long len;
    rdl_outcome out;
    rdl_options *opts;
    int rc;

    snprintf(url, sizeof url, "%s/t%d.bin", base_url, w->index);
    snprintf(path, sizeof path, "%s/t%d-r%d.bin", dir, w->index, round);

    switch (w->index) {
    case 0:
    case 1: /* Success from 0. */
        rc = fetch(w, url, path, NULL, &out);
        CHECK(w, rc == RDL_OK);
        CHECK(w, rdl_last_error_message()[0] == '\0');
        CHECK(w, out.kind == RDL_KIND_FRESH && out.received == (uint64_t)size);
        CHECK(w, check_file(path, body, &len) && len == size);
        break;
    case 2: /* An error status. */
        snprintf(url, sizeof url, "%s/missing.bin", base_url);
        rc = fetch(w, url, path, NULL, &out);
        CHECK(w, rc == RDL_ERR_HTTP_STATUS);
        CHECK(w, rdl_last_error_http_status() == 404);
        check_error(w, "404");
        check_error(w, "missing.bin");
        CHECK(w, check_file(path, body, &len) && len == -1);
        break;
    case 3: /* No server. */
        rc = fetch(w, closed_url, path, NULL, &out);
        CHECK(w, rc == RDL_ERR_NETWORK);
        CHECK(w, rdl_last_error_http_status() == 0);
        check_error(w, "cannot reach the server");
        break;
    case 4: /* Cancelled by the callback, then resumed by a second call. */
        w->cancel_at = (uint64_t)size / 4;
        rc = fetch(w, url, path, NULL, &out);
        w->cancel_at = 0;
        CHECK(w, rc == RDL_ERR_ABORTED_BY_CALLBACK);
        check_error(w, "aborted");
        /* One connection leaves a prefix; several leave parts with holes between. */
        CHECK(w, connections > 1 || (check_file(path, body, &len) && len > 0));
        rc = fetch(w, url, path, NULL, &out);
        CHECK(w, rc == RDL_OK);
        /* One connection: the file's length is what was kept. Several: the parts, with
         * holes between them, so the length says nothing. */
        CHECK(w, out.kind == RDL_KIND_RESUMED && out.resumed_from > 0);
        CHECK(w, connections > 1 || out.resumed_from == (uint64_t)len);
        CHECK(w, out.resumed_from < (uint64_t)size);
        CHECK(w, out.resumed_from + out.received == (uint64_t)size);
        CHECK(w, strcmp(out.final_url, url) == 0);
        CHECK(w, check_file(path, body, &len) && len == size);
        break;
    case 5: { /* A partial file left by someone else, resumed. */
        FILE *f = fopen(path, "wb");
        long part = size / 3;
        CHECK(w, f != NULL);
        if (f != NULL) {
            CHECK(w, fwrite(body, 1, (size_t)part, f) == (size_t)part);
            fclose(f);
        }
        rc = fetch(w, url, path, NULL, &out);
        CHECK(w, rc == RDL_OK);
        CHECK(w, out.kind == RDL_KIND_RESUMED && out.resumed_from == (uint64_t)part);
        CHECK(w, out.status == 206);
        CHECK(w, check_file(path, body, &len) && len == size);
        break;
    }
    case 6: /* Refused before any request. */
        opts = rdl_options_new();
        CHECK(w, rdl_options_add_header(opts, "Range", "bytes=1-") == RDL_OK);
        rc = fetch(w, url, path, opts, &out);
        CHECK(w, rc == RDL_ERR_INVALID_ARG);
        check_error(w, "Range");
        rdl_options_free(opts);
        check_error(w, "Range");
        CHECK(w, check_file(path, body, &len) && len == -1);
        break;
    case 7: /* The wrong checksum: the bytes are moved aside. */
        opts = rdl_options_new();
        CHECK(w, rdl_options_set_sha256(opts, "00000000000000000000000000000000"
                                              "00000000000000000000000000000000") == RDL_OK);
        rc = fetch(w, url, path, opts, &out);
        CHECK(w, rc == RDL_ERR_CHECKSUM_MISMATCH);
        check_error(w, "sha256 mismatch");
        rdl_options_free(opts);
        snprintf(aside, sizeof aside, "%s.sha256-mismatch", path);
        CHECK(w, check_file(path, body, &len) && len == -1);
        CHECK(w, check_file(aside, body, &len) && len == size);
        break;
    default:
        break;
    }
}

static void *work(void *arg)
{
    struct worker *w = (struct worker *)arg;
    unsigned char *body = pattern((size_t)size, 100 + (uint64_t)w->index);
    int round;
    w->self = pthread_self();
    pthread_barrier_wait(&start);
    if (body == NULL) {
        w->failures++;
        return NULL;
    }
    for (round = 0; round < ROUNDS; round++) {
        run_round(w, round, body);
    }
    CHECK(w, w->progress_on_other_thread == 0);
    CHECK(w, w->index == 2 || w->index == 3 || w->index == 6 || w->progress_calls > 0);
    free(body);
    return NULL;
}

int main(int argc, char **argv)
{
    struct worker workers[THREADS];
    pthread_t ids[THREADS];
    int i;
    int failures = 0;

    if (argc != 5 && argc != 6) {
        fprintf(stderr, "usage: threads BASE_URL DIR SIZE CLOSED_URL [CONNECTIONS]\n");
        return 2;
    }
    if (argc == 6) {
        connections = (uint32_t)strtoul(argv[5], NULL, 10);
    }
    base_url = argv[1];
    dir = argv[2];
    size = strtol(argv[3], NULL, 10);
    closed_url = argv[4];
    if (pthread_barrier_init(&start, NULL, THREADS) != 0) {
        return 2;
    }
    for (i = 0; i < THREADS; i++) {
        memset(&workers[i], 0, sizeof workers[i]);
        workers[i].index = i;
        if (pthread_create(&ids[i], NULL, work, &workers[i]) != 0) {
            fprintf(stderr, "pthread_create failed\n");
            return 2;
        }
    }
    for (i = 0; i < THREADS; i++) {
        pthread_join(ids[i], NULL);
        failures += workers[i].failures;
    }
    pthread_barrier_destroy(&start);
    if (failures > 0) {
        fprintf(stderr, "threads: %d check(s) failed\n", failures);
        return 1;
    }
    printf("threads: %d threads x %d rounds passed\n", THREADS, ROUNDS);
    return 0;
}
