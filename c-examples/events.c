/*
 * events: the event callback (rdl_options_set_event_callback, rdl_event) and the cancel
 * handle (rdl_cancel_*) from C. Built and run by tests/c_abi.rs and tests/hardening.rs
 * only (also under ASan+UBSan and valgrind):
 *
 *   events BASE DIR
 *
 * BASE is the loopback test server's root URL, serving
 *   /ev/cut.bin     300000 bytes; its first answer is cut after 100000 bytes
 *   /ev/quiet.bin   1000000 bytes; every answer stops after 100000 bytes and then says
 *                   nothing for a minute
 * DIR is an empty scratch directory. Prints each event as one line on stdout
 * ("event request|answer|retry ...", checked by the Rust test), one line per failed
 * check on stderr, and exits 1 if any check failed.
 */

#define _POSIX_C_SOURCE 200809L

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "resumedl.h"

static int failures = 0;

#define CHECK(cond)                                                            \
    do {                                                                       \
        if (!(cond)) {                                                         \
            fprintf(stderr, "events.c:%d: check failed: %s\n", __LINE__, #cond); \
            failures++;                                                        \
        }                                                                      \
    } while (0)

static const char *or_dash(const char *s)
{
    return s != NULL ? s : "-";
}

struct seen {
    pthread_t caller;
    int requests, answers, retries, other_thread;
};

static int on_event(void *userdata, const rdl_event *ev)
{
    struct seen *seen = (struct seen *)userdata;
    if (!pthread_equal(pthread_self(), seen->caller)) {
        seen->other_thread++;
    }
    switch (ev->kind) {
    case RDL_EVENT_REQUEST:
        seen->requests++;
        printf("event request %s %s range=%s if_range=%s\n", ev->method, ev->url,
               or_dash(ev->range), or_dash(ev->if_range));
        break;
    case RDL_EVENT_ANSWER:
        seen->answers++;
        printf("event answer %d %s content_range=%s content_length=%s etag=%s\n",
               ev->status, ev->url, or_dash(ev->content_range), or_dash(ev->content_length),
               or_dash(ev->etag));
        break;
    case RDL_EVENT_RETRY:
        seen->retries++;
        /* The last field of this header's rdl_event is there. */
        if (RDL_EVENT_HAS(ev, of)) {
            printf("event retry attempt=%u of=%u at=%llu reason=%s\n", (unsigned)ev->attempt,
                   (unsigned)ev->of, (unsigned long long)ev->at, ev->reason);
        } else {
            printf("event retry without the fields of this header\n");
        }
        break;
    default:
        /* Kinds are only ever added: a newer library may send one this program does
         * not know. */
        break;
    }
    fflush(stdout);
    return 0;
}

/* Cancels at the first answer, as a program that sees what it did not expect would. */
static int stop_at_answer(void *userdata, const rdl_event *ev)
{
    (void)userdata;
    return ev->kind == RDL_EVENT_ANSWER;
}

static double now_seconds(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void *cancel_later(void *arg)
{
    struct timespec pause = {1, 0};
    nanosleep(&pause, NULL);
    CHECK(rdl_cancel_cancel((const rdl_cancel *)arg) == RDL_OK);
    return NULL;
}

int main(int argc, char **argv)
{
    char url[512], path[512];
    struct seen seen;
    rdl_options *opts;
    rdl_cancel *cancel;
    rdl_outcome out;
    pthread_t canceller;
    double started, took;
    int rc;

    if (argc != 3) {
        fprintf(stderr, "usage: events BASE DIR\n");
        return 2;
    }
    memset(&seen, 0, sizeof seen);
    seen.caller = pthread_self();

    /* NULL is an error, never a crash. */
    CHECK(rdl_options_set_event_callback(NULL, on_event, NULL) == RDL_ERR_INVALID_ARG);
    CHECK(rdl_cancel_cancel(NULL) == RDL_ERR_INVALID_ARG);
    CHECK(rdl_options_set_cancel(NULL, NULL) == RDL_ERR_INVALID_ARG);
    rdl_cancel_free(NULL);

    /* 1. Events of a download that is cut once and resumed. */
    opts = rdl_options_new();
    CHECK(opts != NULL);
    CHECK(rdl_options_set_event_callback(opts, on_event, &seen) == RDL_OK);
    CHECK(rdl_options_set_retry_backoff_ms(opts, 10) == RDL_OK);
    snprintf(url, sizeof url, "%s/ev/cut.bin", argv[1]);
    snprintf(path, sizeof path, "%s/cut.bin", argv[2]);
    memset(&out, 0, sizeof out);
    out.size = sizeof out;
    rc = rdl_download(url, path, opts, &out);
    CHECK(rc == RDL_OK);
    CHECK(out.attempts == 2);
    CHECK(seen.requests == 2 && seen.answers == 2 && seen.retries == 1);
    CHECK(seen.other_thread == 0);
    /* Removed, the callback is not called any more. */
    CHECK(rdl_options_set_event_callback(opts, NULL, NULL) == RDL_OK);
    rc = rdl_download(url, path, opts, NULL);
    CHECK(rc == RDL_OK);
    CHECK(seen.requests == 2);

    /* A non-zero return cancels, before any byte of the body is written. */
    CHECK(rdl_options_set_event_callback(opts, stop_at_answer, NULL) == RDL_OK);
    snprintf(path, sizeof path, "%s/stopped.bin", argv[2]);
    rc = rdl_download(url, path, opts, NULL);
    CHECK(rc == RDL_ERR_ABORTED_BY_CALLBACK);
    CHECK(fopen(path, "rb") == NULL);
    CHECK(rdl_options_set_event_callback(opts, NULL, NULL) == RDL_OK);

    /* 2. A cancel from another thread ends a read on a silent server at once. */
    cancel = rdl_cancel_new();
    CHECK(cancel != NULL);
    CHECK(rdl_options_set_cancel(opts, cancel) == RDL_OK);
    CHECK(rdl_options_set_stall_timeout_ms(opts, 60000) == RDL_OK);
    snprintf(url, sizeof url, "%s/ev/quiet.bin", argv[1]);
    snprintf(path, sizeof path, "%s/quiet.bin", argv[2]);
    CHECK(pthread_create(&canceller, NULL, cancel_later, cancel) == 0);
    started = now_seconds();
    rc = rdl_download(url, path, opts, NULL);
    took = now_seconds() - started;
    pthread_join(canceller, NULL);
    CHECK(rc == RDL_ERR_ABORTED_BY_CALLBACK);
    /* 1 s to the cancel; the server would stay silent for 60 (generous for valgrind). */
    CHECK(took < 30.0);
    printf("cancelled after %.1f s: %s\n", took, rdl_last_error_message());

    /* 3. The options keep their own reference: freed, the handle still cancels, and a
     * download that starts cancelled ends before touching anything. */
    rdl_cancel_free(cancel);
    snprintf(path, sizeof path, "%s/never.bin", argv[2]);
    rc = rdl_download(url, path, opts, NULL);
    CHECK(rc == RDL_ERR_ABORTED_BY_CALLBACK);
    CHECK(fopen(path, "rb") == NULL);
    /* NULL removes it. */
    CHECK(rdl_options_set_cancel(opts, NULL) == RDL_OK);
    rdl_options_free(opts);

    if (failures == 0) {
        printf("all checks passed\n");
        return 0;
    }
    return 1;
}
