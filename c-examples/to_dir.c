/*
 * to_dir: rdl_download_to_dir and its options from C — the name the server chose, a
 * hostile one kept inside the directory, rdl_options_set_content_disposition,
 * rdl_options_set_overwrite refusing and allowing, rdl_options_set_basic_auth with a
 * password containing ':', and rdl_outcome.path. Built and run by tests/c_abi.rs and
 * tests/hardening.rs only (also under ASan+UBSan and valgrind):
 *
 *   to_dir BASE DIR SIZE
 *
 * BASE is the loopback test server's root URL; every resource below serves SIZE bytes:
 *   /cd/hostile.bin   Content-Disposition: attachment; filename="../../x"
 *   /cd/plain.bin     Content-Disposition: attachment; filename="server-name.bin"
 *   /cd/named.bin     Content-Disposition: attachment; filename="taken.bin"
 *   /auth/secret.bin, /auth/direct.bin   (the Rust test checks their Authorization)
 * DIR is an empty scratch directory inside another one (nothing may appear beside it).
 * Prints one line per failed check and exits 1 if any failed, 0 otherwise.
 */

#define _POSIX_C_SOURCE 200809L

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "resumedl.h"

static int failures = 0;

#define CHECK(cond)                                                            \
    do {                                                                       \
        if (!(cond)) {                                                         \
            fprintf(stderr, "to_dir.c:%d: check failed: %s\n", __LINE__, #cond); \
            failures++;                                                        \
        }                                                                      \
    } while (0)

/* The call succeeded; else says why. */
#define CHECK_OK(call)                                                                  \
    do {                                                                                \
        int rc_ = (call);                                                               \
        if (rc_ != RDL_OK) {                                                            \
            fprintf(stderr, "to_dir.c:%d: %s returned %s (%s)\n", __LINE__, #call,      \
                    rdl_code_name(rc_), rdl_last_error_message());                      \
            failures++;                                                                 \
        }                                                                               \
    } while (0)

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

/* `path` holds exactly `text`. */
static int file_is(const char *path, const char *text)
{
    char buf[256];
    size_t n;
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        return 0;
    }
    n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    return n == strlen(text) && memcmp(buf, text, n) == 0;
}

/* `dir`/`name`, created as a directory. */
static void subdir(char *out, size_t cap, const char *dir, const char *name)
{
    snprintf(out, cap, "%s/%s", dir, name);
    if (mkdir(out, 0700) != 0) {
        fprintf(stderr, "to_dir: cannot create %s\n", out);
        exit(2);
    }
}

static void fresh_outcome(rdl_outcome *out)
{
    memset(out, 0, sizeof *out);
    out->size = sizeof *out;
}

/* A hostile Content-Disposition: the file lands inside the directory as "x". */
static void hostile_name(const char *base, const char *dir, long size)
{
    char url[4096], in[2048], want[4096];
    rdl_outcome out;

    snprintf(url, sizeof url, "%s/cd/hostile.bin", base);
    subdir(in, sizeof in, dir, "in");
    snprintf(want, sizeof want, "%s/x", in);
    fresh_outcome(&out);
    CHECK_OK(rdl_download_to_dir(url, in, NULL, &out));
    CHECK(RDL_OUTCOME_HAS(&out, path));
    CHECK(out.path != NULL && strcmp(out.path, want) == 0);
    CHECK(out.kind == RDL_KIND_FRESH && out.received == (uint64_t)size);
    CHECK(out.final_url != NULL && strcmp(out.final_url, url) == 0);
    CHECK(file_size(want) == size);
    /* Again: the same name, already complete. */
    fresh_outcome(&out);
    CHECK_OK(rdl_download_to_dir(url, in, NULL, &out));
    CHECK(out.path != NULL && strcmp(out.path, want) == 0);
    CHECK(out.kind == RDL_KIND_ALREADY_COMPLETE && out.received == 0);
}

/* Without Content-Disposition the URL names the file (and no HEAD is sent). */
static void url_name(const char *base, const char *dir, long size)
{
    char url[4096], in[2048], want[4096];
    rdl_outcome out;
    rdl_options *o = rdl_options_new();

    snprintf(url, sizeof url, "%s/cd/plain.bin", base);
    subdir(in, sizeof in, dir, "url");
    snprintf(want, sizeof want, "%s/plain.bin", in);
    CHECK_OK(rdl_options_set_content_disposition(o, 0));
    fresh_outcome(&out);
    CHECK_OK(rdl_download_to_dir(url, in, o, &out));
    CHECK(out.path != NULL && strcmp(out.path, want) == 0);
    CHECK(file_size(want) == size);
    rdl_options_free(o);
    /* With it (non-zero), the same URL in the same directory finds its file again
     * (its origin names the URL), whatever the server calls it now... */
    o = rdl_options_new();
    CHECK_OK(rdl_options_set_content_disposition(o, -1));
    fresh_outcome(&out);
    CHECK_OK(rdl_download_to_dir(url, in, o, &out));
    CHECK(out.path != NULL && strcmp(out.path, want) == 0);
    CHECK(out.kind == RDL_KIND_ALREADY_COMPLETE && out.status == 304);
    /* ...and in another directory it gets the server's name. */
    subdir(in, sizeof in, dir, "url2");
    snprintf(want, sizeof want, "%s/server-name.bin", in);
    fresh_outcome(&out);
    CHECK_OK(rdl_download_to_dir(url, in, o, &out));
    CHECK(out.path != NULL && strcmp(out.path, want) == 0);
    CHECK(file_size(want) == size);
    rdl_options_free(o);
}

/* A file resumedl did not download under the server's name: kept unless overwrite,
 * continue_foreign or no_clobber says what to do with it. */
static void overwrite(const char *base, const char *dir, long size)
{
    static const char old[] = "old bytes, not the resource\n";
    char url[4096], in[2048], taken[4096];
    rdl_outcome out, sentinel;
    rdl_options *o;
    FILE *f;

    snprintf(url, sizeof url, "%s/cd/named.bin", base);
    subdir(in, sizeof in, dir, "keep");
    snprintf(taken, sizeof taken, "%s/taken.bin", in);
    f = fopen(taken, "wb");
    CHECK(f != NULL);
    if (f == NULL) {
        return;
    }
    fputs(old, f);
    fclose(f);

    /* The default refuses, naming the file; nothing is written, not even the outcome. */
    memset(&sentinel, 0xab, sizeof sentinel);
    sentinel.size = sizeof sentinel;
    out = sentinel;
    CHECK(rdl_download_to_dir(url, in, NULL, &out) == RDL_ERR_IO);
    CHECK(strstr(rdl_last_error_message(), "taken.bin") != NULL);
    CHECK(memcmp(&out, &sentinel, sizeof out) == 0);
    CHECK(file_is(taken, old));
    /* So does overwrite set to 0. */
    o = rdl_options_new();
    CHECK_OK(rdl_options_set_overwrite(o, 0));
    CHECK(rdl_download_to_dir(url, in, o, NULL) == RDL_ERR_IO);
    CHECK(file_is(taken, old));
    /* no_clobber: left alone, and a success. */
    CHECK_OK(rdl_options_set_no_clobber(o, 1));
    fresh_outcome(&out);
    CHECK_OK(rdl_download_to_dir(url, in, o, &out));
    CHECK(out.kind == RDL_KIND_SKIPPED && out.received == 0);
    CHECK(out.path != NULL && strcmp(out.path, taken) == 0);
    CHECK(file_is(taken, old));
    CHECK_OK(rdl_options_set_no_clobber(o, 0));
    /* Allowed: downloaded anew from 0, never appended to the old bytes. */
    CHECK_OK(rdl_options_set_overwrite(o, 1));
    fresh_outcome(&out);
    CHECK_OK(rdl_download_to_dir(url, in, o, &out));
    CHECK(out.path != NULL && strcmp(out.path, taken) == 0);
    CHECK(out.kind == RDL_KIND_REPLACED);
    CHECK(out.resumed_from == 0 && out.received == (uint64_t)size);
    CHECK(file_size(taken) == size);
    rdl_options_free(o);
}

/* continue_foreign: another tool's partial file under the URL's name is continued as
 * wget -c does (the first 1000 bytes are the resource's here). */
static void continue_foreign(const char *base, const char *dir, long size)
{
    char url[4096], in[2048], part[4096], prefix[1000];
    rdl_outcome out;
    rdl_options *o = rdl_options_new();
    FILE *f;

    snprintf(url, sizeof url, "%s/auth/direct.bin", base);
    subdir(in, sizeof in, dir, "foreign");
    snprintf(part, sizeof part, "%s/direct.bin", in);
    /* The prefix, from the whole file fetched beside it. */
    {
        char whole[4096];
        FILE *w;
        snprintf(whole, sizeof whole, "%s/direct.bin", dir);
        w = fopen(whole, "rb");
        CHECK(w != NULL && fread(prefix, 1, sizeof prefix, w) == sizeof prefix);
        if (w != NULL) {
            fclose(w);
        }
    }
    f = fopen(part, "wb");
    CHECK(f != NULL && fwrite(prefix, 1, sizeof prefix, f) == sizeof prefix);
    if (f != NULL) {
        fclose(f);
    }
    CHECK_OK(rdl_options_set_basic_auth(o, "user", "pa:ss:word"));
    CHECK(rdl_download_to_dir(url, in, o, NULL) == RDL_ERR_IO);
    CHECK(file_size(part) == (long)sizeof prefix);
    CHECK_OK(rdl_options_set_continue_foreign(o, 1));
    fresh_outcome(&out);
    CHECK_OK(rdl_download_to_dir(url, in, o, &out));
    CHECK(out.kind == RDL_KIND_RESUMED && out.resumed_from == sizeof prefix);
    CHECK(file_size(part) == size);
    rdl_options_free(o);
}

/* Basic auth with a ':' in the password; the Rust test reads the Authorization header
 * the server got. */
static void basic_auth(const char *base, const char *dir, long size)
{
    char url[4096], in[2048], want[4096];
    rdl_outcome out;
    rdl_options *o = rdl_options_new();

    CHECK_OK(rdl_options_set_basic_auth(o, "nobody", "first"));
    /* The last call wins. */
    CHECK_OK(rdl_options_set_basic_auth(o, "user", "pa:ss:word"));
    snprintf(url, sizeof url, "%s/auth/secret.bin", base);
    subdir(in, sizeof in, dir, "auth");
    snprintf(want, sizeof want, "%s/secret.bin", in);
    fresh_outcome(&out);
    CHECK_OK(rdl_download_to_dir(url, in, o, &out));
    CHECK(out.path != NULL && strcmp(out.path, want) == 0);
    CHECK(file_size(want) == size);
    /* rdl_download sends it too, and reports the path it was given. */
    snprintf(url, sizeof url, "%s/auth/direct.bin", base);
    snprintf(want, sizeof want, "%s/direct.bin", dir);
    fresh_outcome(&out);
    CHECK_OK(rdl_download(url, want, o, &out));
    CHECK(out.path != NULL && strcmp(out.path, want) == 0);
    CHECK(file_size(want) == size);
    rdl_options_free(o);
}

int main(int argc, char **argv)
{
    const char *base;
    const char *dir;
    long size;

    if (argc != 4) {
        fprintf(stderr, "usage: to_dir BASE DIR SIZE\n");
        return 2;
    }
    base = argv[1];
    dir = argv[2];
    size = strtol(argv[3], NULL, 10);

    hostile_name(base, dir, size);
    url_name(base, dir, size);
    overwrite(base, dir, size);
    basic_auth(base, dir, size);
    continue_foreign(base, dir, size);

    if (failures > 0) {
        fprintf(stderr, "to_dir: %d check(s) failed\n", failures);
        return 1;
    }
    printf("to_dir: all checks passed\n");
    return 0;
}
