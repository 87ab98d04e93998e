/*
 * abi_inputs: every exported function with the inputs a careless or hostile caller gives —
 * NULL, non-UTF-8, out-of-range numbers, CR/LF inside strings — plus the growth rule of
 * rdl_outcome and the version macros. Built and run by tests/c_abi.rs and
 * tests/hardening.rs only (also under ASan+UBSan and valgrind):
 *
 *   abi_inputs URL DIR SIZE         URL serves SIZE bytes (loopback test server)
 *   abi_inputs plant-heap-overflow  a deliberate heap overflow: an instrumented build
 *   abi_inputs plant-signed-overflow  must stop here with an ASan / UBSan report
 *
 * Prints one line per failed check and exits 1 if any failed, 0 otherwise. No request
 * may carry the header "X-Injected" (the Rust test checks the server's log).
 */

#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "resumedl.h"

static int failures = 0;

#define CHECK(cond)                                                                 \
    do {                                                                            \
        if (!(cond)) {                                                              \
            fprintf(stderr, "abi_inputs.c:%d: check failed: %s\n", __LINE__, #cond); \
            failures++;                                                             \
        }                                                                           \
    } while (0)

/* The code and that the thread's message names `what` (a copy: the message only lives
 * until the next rdl_* call). */
#define CHECK_FAILS(call, code, what)                                                   \
    do {                                                                                \
        int rc_ = (call);                                                               \
        if (rc_ != (code) || strstr(rdl_last_error_message(), (what)) == NULL) {        \
            fprintf(stderr, "abi_inputs.c:%d: %s returned %s (%s), expected %s naming %s\n", \
                    __LINE__, #call, rdl_code_name(rc_), rdl_last_error_message(),      \
                    #code, (what));                                                     \
            failures++;                                                                 \
        }                                                                               \
    } while (0)

#define CHECK_OK(call)                                                                  \
    do {                                                                                \
        int rc_ = (call);                                                               \
        if (rc_ != RDL_OK) {                                                            \
            fprintf(stderr, "abi_inputs.c:%d: %s returned %s (%s)\n", __LINE__, #call,  \
                    rdl_code_name(rc_), rdl_last_error_message());                      \
            failures++;                                                                 \
        }                                                                               \
    } while (0)

static char bad_utf8[] = {'x', (char)0xc3, (char)0x28, (char)0xff, '\0'};

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

/* A download with options `o` must be refused with `code` before any byte is written. */
static void refused(const char *url, const char *dir, rdl_options *o, int code,
                    const char *what, int line)
{
    char path[4096];
    int rc;
    snprintf(path, sizeof path, "%s/refused-%d.bin", dir, line);
    rc = rdl_download(url, path, o, NULL);
    if (rc != code || strstr(rdl_last_error_message(), what) == NULL) {
        fprintf(stderr, "abi_inputs.c:%d: download returned %s (%s), expected %s naming %s\n",
                line, rdl_code_name(rc), rdl_last_error_message(), rdl_code_name(code), what);
        failures++;
    }
    if (file_size(path) != -1) {
        fprintf(stderr, "abi_inputs.c:%d: a refused download created %s\n", line, path);
        failures++;
    }
}

/* One option set on fresh options, then a download that must be refused. */
#define REFUSED_WITH(setter, code, what)                  \
    do {                                                  \
        rdl_options *o_ = rdl_options_new();              \
        CHECK_OK(setter);                                 \
        refused(url, dir, o_, (code), (what), __LINE__);  \
        rdl_options_free(o_);                             \
    } while (0)

/* One option set on fresh options, then a download that must succeed. */
static void succeeds(const char *url, const char *dir, rdl_options *o, long size, int line)
{
    char path[4096];
    int rc;
    snprintf(path, sizeof path, "%s/ok-%d.bin", dir, line);
    rc = rdl_download(url, path, o, NULL);
    if (rc != RDL_OK || file_size(path) != size) {
        fprintf(stderr, "abi_inputs.c:%d: download returned %s (%s), size %ld of %ld\n", line,
                rdl_code_name(rc), rdl_last_error_message(), file_size(path), size);
        failures++;
    }
}

#define SUCCEEDS_WITH(setter)                        \
    do {                                             \
        rdl_options *o_ = rdl_options_new();         \
        CHECK_OK(setter);                            \
        succeeds(url, dir, o_, size, __LINE__);      \
        rdl_options_free(o_);                        \
    } while (0)

static int progress_calls = 0;

static int count_progress(void *userdata, uint64_t downloaded, uint64_t total)
{
    (void)downloaded;
    (void)total;
    CHECK(userdata == &progress_calls);
    progress_calls++;
    return 0;
}

/* Deliberate bugs, to prove that a sanitizer build catches them. volatile keeps the
 * compiler from seeing through them. */
static int plant(const char *what)
{
    if (strcmp(what, "plant-heap-overflow") == 0) {
        volatile size_t n = 16;
        char *p = (char *)malloc(n);
        int c;
        if (p == NULL) {
            return 2;
        }
        memset(p, 'x', n);
        c = p[n]; /* one past the end */
        free(p);
        printf("read %d past the end: not instrumented\n", c);
        return 0;
    }
    if (strcmp(what, "plant-signed-overflow") == 0) {
        volatile int big = INT_MAX;
        int sum = big + 1;
        printf("INT_MAX + 1 = %d: not instrumented\n", sum);
        return 0;
    }
    fprintf(stderr, "unknown plant %s\n", what);
    return 2;
}

static void versions(void)
{
    char header[64];
    snprintf(header, sizeof header, "%d.%d.%d", RDL_VERSION_MAJOR, RDL_VERSION_MINOR,
             RDL_VERSION_PATCH);
    CHECK(strcmp(header, RDL_VERSION_STRING) == 0);
    /* The library this program runs with is the one it was compiled for. */
    CHECK(strcmp(rdl_version(), RDL_VERSION_STRING) == 0);
}

static void code_names(void)
{
    int codes[] = {INT_MIN, -1, 15, 1000, INT_MAX};
    size_t i;
    CHECK(rdl_download(NULL, NULL, NULL, NULL) == RDL_ERR_INVALID_ARG);
    for (i = 0; i < sizeof codes / sizeof codes[0]; i++) {
        CHECK(strcmp(rdl_code_name(codes[i]), "RDL_UNKNOWN_CODE") == 0);
    }
    /* rdl_code_name and rdl_version leave the last error alone. */
    CHECK(strstr(rdl_last_error_message(), "NULL") != NULL);
    CHECK(rdl_last_error_http_status() == 0);
}

static void null_options(void)
{
    CHECK_FAILS(rdl_options_add_header(NULL, "A", "b"), RDL_ERR_INVALID_ARG, "NULL");
    CHECK_FAILS(rdl_options_set_connect_timeout_ms(NULL, 1), RDL_ERR_INVALID_ARG, "NULL");
    CHECK_FAILS(rdl_options_set_stall_timeout_ms(NULL, 1), RDL_ERR_INVALID_ARG, "NULL");
    CHECK_FAILS(rdl_options_set_resume(NULL, 1), RDL_ERR_INVALID_ARG, "NULL");
    CHECK_FAILS(rdl_options_set_retries(NULL, 1), RDL_ERR_INVALID_ARG, "NULL");
    CHECK_FAILS(rdl_options_set_retry_backoff_ms(NULL, 1), RDL_ERR_INVALID_ARG, "NULL");
    CHECK_FAILS(rdl_options_set_sha256(NULL, NULL), RDL_ERR_INVALID_ARG, "NULL");
    CHECK_FAILS(rdl_options_set_ca_file(NULL, NULL), RDL_ERR_INVALID_ARG, "NULL");
    CHECK_FAILS(rdl_options_set_proxy(NULL, NULL), RDL_ERR_INVALID_ARG, "NULL");
    CHECK_FAILS(rdl_options_set_progress(NULL, NULL, NULL), RDL_ERR_INVALID_ARG, "NULL");
    CHECK_FAILS(rdl_options_set_basic_auth(NULL, "u", "p"), RDL_ERR_INVALID_ARG, "options");
    CHECK_FAILS(rdl_options_set_content_disposition(NULL, 1), RDL_ERR_INVALID_ARG, "options");
    CHECK_FAILS(rdl_options_set_session(NULL, NULL), RDL_ERR_INVALID_ARG, "options");
    CHECK_FAILS(rdl_session_set_max_connections_per_host(NULL, 1), RDL_ERR_INVALID_ARG, "session");
    CHECK_FAILS(rdl_session_set_batch_syncs(NULL, 1), RDL_ERR_INVALID_ARG, "session");
    CHECK_FAILS(rdl_session_flush(NULL), RDL_ERR_INVALID_ARG, "session");
    rdl_session_free(NULL);
    CHECK_FAILS(rdl_options_set_overwrite(NULL, 1), RDL_ERR_INVALID_ARG, "options");
    CHECK_FAILS(rdl_options_set_continue_foreign(NULL, 1), RDL_ERR_INVALID_ARG, "options");
    CHECK_FAILS(rdl_options_set_no_clobber(NULL, 1), RDL_ERR_INVALID_ARG, "options");
    CHECK_FAILS(rdl_options_set_retry_connrefused(NULL, 1), RDL_ERR_INVALID_ARG, "options");
    CHECK_FAILS(rdl_options_set_timestamping(NULL, 1), RDL_ERR_INVALID_ARG, "options");
    CHECK_FAILS(rdl_options_set_modified_since(NULL, 0), RDL_ERR_INVALID_ARG, "options");
    rdl_options_free(NULL);
}

static void strings(const char *url, const char *dir, long size)
{
    char crlf_url[4096];
    char path[4096];
    rdl_options *o = rdl_options_new();
    CHECK(o != NULL);

    /* Setters refuse what they can tell at once: NULL and non-UTF-8. */
    CHECK_FAILS(rdl_options_add_header(o, NULL, "b"), RDL_ERR_INVALID_ARG, "NULL");
    CHECK_FAILS(rdl_options_add_header(o, "A", NULL), RDL_ERR_INVALID_ARG, "NULL");
    CHECK_FAILS(rdl_options_add_header(o, bad_utf8, "b"), RDL_ERR_INVALID_ARG, "UTF-8");
    CHECK_FAILS(rdl_options_add_header(o, "A", bad_utf8), RDL_ERR_INVALID_ARG, "UTF-8");
    CHECK_FAILS(rdl_options_set_sha256(o, bad_utf8), RDL_ERR_INVALID_ARG, "UTF-8");
    CHECK_FAILS(rdl_options_set_ca_file(o, bad_utf8), RDL_ERR_INVALID_ARG, "UTF-8");
    CHECK_FAILS(rdl_options_set_proxy(o, bad_utf8), RDL_ERR_INVALID_ARG, "UTF-8");
    CHECK_FAILS(rdl_options_set_basic_auth(o, NULL, "p"), RDL_ERR_INVALID_ARG, "user");
    CHECK_FAILS(rdl_options_set_basic_auth(o, "u", NULL), RDL_ERR_INVALID_ARG, "password");
    CHECK_FAILS(rdl_options_set_basic_auth(o, bad_utf8, "p"), RDL_ERR_INVALID_ARG,
                "user: is not valid UTF-8");
    CHECK_FAILS(rdl_options_set_basic_auth(o, "u", bad_utf8), RDL_ERR_INVALID_ARG,
                "password: is not valid UTF-8");
    /* None of those changed the options: they still download. */
    succeeds(url, dir, o, size, __LINE__);
    rdl_options_free(o);

    /* The rest is checked when the download starts, before a request or a file. */
    REFUSED_WITH(rdl_options_add_header(o_, "X-A", "v\r\nX-Injected: 1"), RDL_ERR_INVALID_ARG,
                 "X-A");
    REFUSED_WITH(rdl_options_add_header(o_, "X-A", "v\nX-Injected: 1"), RDL_ERR_INVALID_ARG,
                 "X-A");
    REFUSED_WITH(rdl_options_add_header(o_, "X-A\r\nX-Injected", "1"), RDL_ERR_INVALID_ARG,
                 "header");
    REFUSED_WITH(rdl_options_add_header(o_, "", "v"), RDL_ERR_INVALID_ARG, "header");
    REFUSED_WITH(rdl_options_add_header(o_, "Bad Name", "v"), RDL_ERR_INVALID_ARG, "header");
    REFUSED_WITH(rdl_options_add_header(o_, "range", "bytes=0-"), RDL_ERR_INVALID_ARG, "range");
    REFUSED_WITH(rdl_options_add_header(o_, "If-Range", "x"), RDL_ERR_INVALID_ARG, "If-Range");
    REFUSED_WITH(rdl_options_add_header(o_, "Accept-Encoding", "gzip"), RDL_ERR_INVALID_ARG,
                 "Accept-Encoding");
    REFUSED_WITH(rdl_options_set_sha256(o_, "zz"), RDL_ERR_INVALID_ARG, "sha256");
    REFUSED_WITH(rdl_options_set_sha256(o_, ""), RDL_ERR_INVALID_ARG, "sha256");
    REFUSED_WITH(rdl_options_set_sha256(o_, "00000000000000000000000000000000\r\n"
                                            "00000000000000000000000000000000"),
                 RDL_ERR_INVALID_ARG, "sha256");
    REFUSED_WITH(rdl_options_set_ca_file(o_, "/nonexistent/ca.pem"), RDL_ERR_INVALID_ARG,
                 "/nonexistent/ca.pem");
    REFUSED_WITH(rdl_options_set_ca_file(o_, "/dev/null"), RDL_ERR_INVALID_ARG, "ca file");
    REFUSED_WITH(rdl_options_set_ca_file(o_, "/tmp/\r\nca.pem"), RDL_ERR_INVALID_ARG, "ca file");
    REFUSED_WITH(rdl_options_set_ca_file(o_, ""), RDL_ERR_INVALID_ARG, "ca file");
    REFUSED_WITH(rdl_options_set_proxy(o_, "not a url"), RDL_ERR_INVALID_ARG, "proxy");
    REFUSED_WITH(rdl_options_set_proxy(o_, "http://127.0.0.1:1\r\nX-Injected: 1"),
                 RDL_ERR_INVALID_ARG, "proxy");

    /* The URL and path themselves. */
    snprintf(path, sizeof path, "%s/never.bin", dir);
    CHECK_FAILS(rdl_download(NULL, path, NULL, NULL), RDL_ERR_INVALID_ARG, "url");
    CHECK_FAILS(rdl_download(url, NULL, NULL, NULL), RDL_ERR_INVALID_ARG, "path");
    CHECK_FAILS(rdl_download(bad_utf8, path, NULL, NULL), RDL_ERR_INVALID_ARG, "UTF-8");
    CHECK_FAILS(rdl_download(url, bad_utf8, NULL, NULL), RDL_ERR_INVALID_ARG, "UTF-8");
    CHECK_FAILS(rdl_download_to_dir(NULL, dir, NULL, NULL), RDL_ERR_INVALID_ARG, "url: is NULL");
    CHECK_FAILS(rdl_download_to_dir(url, NULL, NULL, NULL), RDL_ERR_INVALID_ARG, "dir: is NULL");
    CHECK_FAILS(rdl_download_to_dir(bad_utf8, dir, NULL, NULL), RDL_ERR_INVALID_ARG,
                "url: is not valid UTF-8");
    CHECK_FAILS(rdl_download_to_dir(url, bad_utf8, NULL, NULL), RDL_ERR_INVALID_ARG,
                "dir: is not valid UTF-8");
    CHECK_FAILS(rdl_download_to_dir("ftp://127.0.0.1/x", dir, NULL, NULL), RDL_ERR_INVALID_URL,
                "ftp");
    CHECK_FAILS(rdl_download("", path, NULL, NULL), RDL_ERR_INVALID_URL, "url");
    CHECK_FAILS(rdl_download("ftp://127.0.0.1/x", path, NULL, NULL), RDL_ERR_INVALID_URL, "ftp");
    CHECK_FAILS(rdl_download("http://", path, NULL, NULL), RDL_ERR_INVALID_URL, "url");
    snprintf(crlf_url, sizeof crlf_url, "%s\r\nX-Injected: 1", url);
    CHECK_FAILS(rdl_download(crlf_url, path, NULL, NULL), RDL_ERR_INVALID_URL, "url");
    snprintf(crlf_url, sizeof crlf_url, "%s?a=\nX-Injected:1", url);
    CHECK_FAILS(rdl_download(crlf_url, path, NULL, NULL), RDL_ERR_INVALID_URL, "url");
    CHECK(file_size(path) == -1);
    /* An empty path or a directory is a file error, not a crash. */
    CHECK_FAILS(rdl_download(url, "", NULL, NULL), RDL_ERR_IO, "");
    CHECK_FAILS(rdl_download(url, dir, NULL, NULL), RDL_ERR_IO, dir);
    /* A directory that is not there, or a file as the directory. */
    snprintf(path, sizeof path, "%s/no-such-dir", dir);
    CHECK_FAILS(rdl_download_to_dir(url, path, NULL, NULL), RDL_ERR_IO, "no-such-dir");
    CHECK(file_size(path) == -1);
}

static void numbers(const char *url, const char *dir, long size)
{
    /* 0 means no limit; the largest values are far beyond any clock, not an overflow. */
    SUCCEEDS_WITH(rdl_options_set_connect_timeout_ms(o_, 0));
    SUCCEEDS_WITH(rdl_options_set_connect_timeout_ms(o_, UINT64_MAX));
    SUCCEEDS_WITH(rdl_options_set_stall_timeout_ms(o_, 0));
    SUCCEEDS_WITH(rdl_options_set_stall_timeout_ms(o_, UINT64_MAX));
    SUCCEEDS_WITH(rdl_options_set_retry_backoff_ms(o_, 0));
    SUCCEEDS_WITH(rdl_options_set_retry_backoff_ms(o_, UINT64_MAX));
    SUCCEEDS_WITH(rdl_options_set_retries(o_, 0));
    /* UINT32_MAX once overflowed `retries + 1` in download.rs (RDL_ERR_PANIC in debug
     * builds): it saturates now. */
    SUCCEEDS_WITH(rdl_options_set_retries(o_, UINT32_MAX));
    SUCCEEDS_WITH(rdl_options_set_rate_limit(o_, 0));
    SUCCEEDS_WITH(rdl_options_set_rate_limit(o_, UINT64_MAX));
    SUCCEEDS_WITH(rdl_options_set_max_time_ms(o_, 0));
    SUCCEEDS_WITH(rdl_options_set_max_time_ms(o_, UINT64_MAX));
    SUCCEEDS_WITH(rdl_options_set_connections(o_, 32));
    SUCCEEDS_WITH(rdl_options_set_min_split_size(o_, UINT64_MAX));
    SUCCEEDS_WITH(rdl_options_set_allow_https_downgrade(o_, INT_MIN));
    SUCCEEDS_WITH(rdl_options_set_content_disposition(o_, INT_MIN));
    SUCCEEDS_WITH(rdl_options_set_content_disposition(o_, 0));
    SUCCEEDS_WITH(rdl_options_set_overwrite(o_, INT_MIN));
    SUCCEEDS_WITH(rdl_options_set_overwrite(o_, 0));
    SUCCEEDS_WITH(rdl_options_set_continue_foreign(o_, INT_MIN));
    SUCCEEDS_WITH(rdl_options_set_continue_foreign(o_, 0));
    SUCCEEDS_WITH(rdl_options_set_retry_connrefused(o_, INT_MIN));
    SUCCEEDS_WITH(rdl_options_set_retry_connrefused(o_, 0));
    SUCCEEDS_WITH(rdl_options_set_no_clobber(o_, INT_MIN));

    SUCCEEDS_WITH(rdl_options_set_no_clobber(o_, 0));
    SUCCEEDS_WITH(rdl_options_set_timestamping(o_, INT_MIN));
    SUCCEEDS_WITH(rdl_options_set_timestamping(o_, 0));
    /* Any time: the epoch (the resource is newer), negative (cleared), and the far
     * future, which the server answers with 304: nothing written, a success. */
    SUCCEEDS_WITH(rdl_options_set_modified_since(o_, 0));
    SUCCEEDS_WITH(rdl_options_set_modified_since(o_, INT64_MIN));
    {
        char path[4096];
        rdl_outcome out;
        rdl_options *o = rdl_options_new();
        CHECK_OK(rdl_options_set_modified_since(o, INT64_MAX));
        snprintf(path, sizeof path, "%s/not-modified.bin", dir);
        memset(&out, 0, sizeof out);
        out.size = sizeof out;
        CHECK_OK(rdl_download(url, path, o, &out));
        CHECK(out.kind == RDL_KIND_SKIPPED && out.status == 304 && file_size(path) == -1);
        rdl_options_free(o);
    }
    /* Empty strings, a ':' and CR/LF inside: all go into the base64 of one header. */
    SUCCEEDS_WITH(rdl_options_set_basic_auth(o_, "", ""));
    SUCCEEDS_WITH(rdl_options_set_basic_auth(o_, "u", "a:b:"));
    SUCCEEDS_WITH(rdl_options_set_basic_auth(o_, "u\r\nX-Injected: 1", "p\r\n"));
    /* Any non-zero int means yes. */
    SUCCEEDS_WITH(rdl_options_set_resume(o_, INT_MIN));
    SUCCEEDS_WITH(rdl_options_set_resume(o_, -1));
    SUCCEEDS_WITH(rdl_options_set_resume(o_, 0));
    /* A progress callback, then none. */
    SUCCEEDS_WITH(rdl_options_set_progress(o_, count_progress, &progress_calls));
    CHECK(progress_calls > 0);
    progress_calls = 0;
    {
        rdl_options *o_ = rdl_options_new();
        CHECK_OK(rdl_options_set_progress(o_, count_progress, &progress_calls));
        CHECK_OK(rdl_options_set_progress(o_, NULL, NULL));
        succeeds(url, dir, o_, size, __LINE__);
        rdl_options_free(o_);
        CHECK(progress_calls == 0);
    }
    /* Setting an option twice keeps the last value. */
    {
        rdl_options *o_ = rdl_options_new();
        CHECK_OK(rdl_options_set_sha256(o_, "zz"));
        CHECK_OK(rdl_options_set_sha256(o_, NULL));
        CHECK_OK(rdl_options_set_ca_file(o_, "/nonexistent"));
        CHECK_OK(rdl_options_set_ca_file(o_, NULL));
        CHECK_OK(rdl_options_set_proxy(o_, "bad"));
        CHECK_OK(rdl_options_set_proxy(o_, NULL));
        succeeds(url, dir, o_, size, __LINE__);
        rdl_options_free(o_);
    }
}

/* What a program built against a newer header, with a longer rdl_outcome, sees. */
struct newer_outcome {
    rdl_outcome known;
    uint64_t added_later;
};

static void outcome_sizes(const char *url, const char *dir, long size)
{
    char path[4096];
    rdl_outcome out;
    struct newer_outcome newer;

    snprintf(path, sizeof path, "%s/outcome.bin", dir);
    /* A size that was not set is refused before anything is downloaded. */
    memset(&out, 0, sizeof out);
    CHECK_FAILS(rdl_download(url, path, NULL, &out), RDL_ERR_INVALID_ARG, "sizeof(rdl_outcome)");
    CHECK(file_size(path) == -1);
    out.size = offsetof(rdl_outcome, attempts);
    CHECK_FAILS(rdl_download(url, path, NULL, &out), RDL_ERR_INVALID_ARG, "size");
    CHECK(out.size == offsetof(rdl_outcome, attempts));
    CHECK(file_size(path) == -1);

    /* This header's size: every field, and `size` ends at the last one. */
    memset(&out, 0xab, sizeof out);
    out.size = sizeof out;
    CHECK_OK(rdl_download(url, path, NULL, &out));
    CHECK(out.size == offsetof(rdl_outcome, path) + sizeof out.path);
    CHECK(out.size <= sizeof out);
    CHECK(RDL_OUTCOME_HAS(&out, status) && RDL_OUTCOME_HAS(&out, attempts));
    CHECK(RDL_OUTCOME_HAS(&out, final_url) && strcmp(out.final_url, url) == 0);
    CHECK(RDL_OUTCOME_HAS(&out, path) && strcmp(out.path, path) == 0);
    CHECK(out.status == 200 && out.kind == RDL_KIND_FRESH && out.attempts == 1);
    CHECK(out.received == (uint64_t)size && out.total == (uint64_t)size);

    /* A longer struct: the library fills what it knows and leaves the rest alone. */
    memset(&newer, 0xcd, sizeof newer);
    newer.known.size = sizeof newer;
    CHECK_OK(rdl_download(url, path, NULL, &newer.known));
    CHECK(newer.known.kind == RDL_KIND_ALREADY_COMPLETE);
    CHECK(newer.known.size == offsetof(rdl_outcome, path) + sizeof newer.known.path);
    CHECK(newer.known.size < offsetof(struct newer_outcome, added_later) + sizeof(uint64_t));
    CHECK(newer.added_later == 0xcdcdcdcdcdcdcdcdULL);

    /* An older program, compiled before `path`: the fields up to `final_url` only. */
    memset(&out, 0xab, sizeof out);
    out.size = offsetof(rdl_outcome, path);
    CHECK_OK(rdl_download(url, path, NULL, &out));
    CHECK(out.size == offsetof(rdl_outcome, path));
    CHECK(RDL_OUTCOME_HAS(&out, final_url) && !RDL_OUTCOME_HAS(&out, path));
    CHECK(strcmp(out.final_url, url) == 0);
    CHECK(memcmp(&out.path, "\xab\xab\xab\xab", 4) == 0);

    /* rdl_download_to_dir fills the same fields; `path` is the file it chose. */
    memset(&out, 0xab, sizeof out);
    out.size = sizeof out;
    CHECK_OK(rdl_download_to_dir(url, dir, NULL, &out));
    CHECK(out.size == offsetof(rdl_outcome, path) + sizeof out.path);
    CHECK(out.status == 200 && out.kind == RDL_KIND_FRESH);
    CHECK(strncmp(out.path, dir, strlen(dir)) == 0 && out.path[strlen(dir)] == '/');
    CHECK(file_size(out.path) == size);

    /* On failure nothing is written, not even `size`. */
    memset(&out, 0xab, sizeof out);
    out.size = sizeof out;
    CHECK_FAILS(rdl_download(url, dir, NULL, &out), RDL_ERR_IO, "");
    CHECK(out.size == sizeof out && out.status == (int)0xabababab);
}

int main(int argc, char **argv)
{
    const char *url;
    const char *dir;
    long size;

    if (argc == 2) {
        return plant(argv[1]);
    }
    if (argc != 4) {
        fprintf(stderr, "usage: abi_inputs URL DIR SIZE | abi_inputs plant-...\n");
        return 2;
    }
    url = argv[1];
    dir = argv[2];
    size = strtol(argv[3], NULL, 10);

    versions();
    code_names();
    null_options();
    strings(url, dir, size);
    numbers(url, dir, size);
    outcome_sizes(url, dir, size);

    if (failures > 0) {
        fprintf(stderr, "abi_inputs: %d check(s) failed\n", failures);
        return 1;
    }
    printf("abi_inputs: all checks passed (resumedl %s)\n", rdl_version());
    return 0;
}
