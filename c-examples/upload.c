/* A resumable upload (tus 1.0) from C: rdl_upload with the options object, a progress
 * callback that may stop it, the growable outcome; rdl_upload_abort.
 *
 *   upload ENDPOINT FILE STATE_DIR [STOP_AFTER_BYTES]   upload (stop: cancel after that)
 *   upload --abort ENDPOINT FILE STATE_DIR              terminate the remembered upload
 *
 * Prints one line: "created=C resumed_from=R sent=S length=L url=U" or "aborted=A", or
 * on failure "error NAME: MESSAGE" with the code as the exit status. Run the same
 * command again after a stop or a kill: only the rest is sent. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "resumedl.h"

static int stop_after(void *userdata, uint64_t done, uint64_t total) {
    (void)total;
    uint64_t limit = *(const uint64_t *)userdata;
    return limit != 0 && done >= limit;
}

static int fail(int rc) {
    printf("error %s: %s\n", rdl_code_name(rc), rdl_last_error_message());
    return rc;
}

int main(int argc, char **argv) {
    if (argc >= 5 && strcmp(argv[1], "--abort") == 0) {
        rdl_options *opts = rdl_options_new();
        rdl_options_set_upload_state_dir(opts, argv[4]);
        int aborted = -1;
        int rc = rdl_upload_abort(argv[2], argv[3], opts, &aborted);
        rdl_options_free(opts);
        if (rc != RDL_OK) return fail(rc);
        printf("aborted=%d\n", aborted);
        return 0;
    }
    if (argc < 4) {
        fprintf(stderr, "usage: upload ENDPOINT FILE STATE_DIR [STOP_AFTER_BYTES]\n");
        return 2;
    }
    /* Bad arguments are errors, never crashes. */
    if (rdl_upload(NULL, argv[2], NULL, NULL) != RDL_ERR_INVALID_ARG ||
        rdl_upload(argv[1], NULL, NULL, NULL) != RDL_ERR_INVALID_ARG ||
        rdl_upload_abort(argv[1], NULL, NULL, NULL) != RDL_ERR_INVALID_ARG ||
        rdl_options_set_chunk_size(NULL, 1) != RDL_ERR_INVALID_ARG ||
        rdl_options_add_upload_metadata(NULL, "a", "b") != RDL_ERR_INVALID_ARG) {
        printf("a NULL argument was not refused\n");
        return 100;
    }
    rdl_upload_outcome small;
    memset(&small, 0, sizeof small);
    small.size = 4; /* not set to sizeof: refused before anything is sent */
    if (rdl_upload(argv[1], argv[2], NULL, &small) != RDL_ERR_INVALID_ARG) {
        printf("a bad outcome size was not refused\n");
        return 100;
    }

    uint64_t stop = argc > 4 ? strtoull(argv[4], NULL, 10) : 0;
    rdl_options *opts = rdl_options_new();
    rdl_options_set_upload_state_dir(opts, argv[3]);
    rdl_options_add_upload_metadata(opts, "origin", "c-example");
    rdl_options_set_chunk_size(opts, 1 << 20);
    rdl_options_set_retry_backoff_ms(opts, 10);
    rdl_options_set_progress(opts, stop_after, &stop);
    if (stop) rdl_options_set_rate_limit(opts, 4 << 20);

    rdl_upload_outcome out;
    memset(&out, 0, sizeof out);
    out.size = sizeof out;
    int rc = rdl_upload(argv[1], argv[2], opts, &out);
    rdl_options_free(opts);
    if (rc != RDL_OK) return fail(rc);
    if (!RDL_UPLOAD_OUTCOME_HAS(&out, created)) {
        printf("the outcome was not filled in\n");
        return 100;
    }
    printf("created=%d resumed_from=%llu sent=%llu length=%llu url=%s\n", out.created,
           (unsigned long long)out.resumed_from, (unsigned long long)out.sent,
           (unsigned long long)out.length, out.url);
    return 0;
}
