/* SPDX-License-Identifier: MIT */
/*
 * fuzz_regex - compiles the first part of the input as a pattern and runs it
 * on the rest as a subject (split at the first 0x00 byte; without one, the
 * input is both). Checks that compile and search never crash, that captures
 * lie inside the subject and inside the whole match, that the VM stays within
 * its linear step bound, and that replace terminates and frees everything.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "regex.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int cond)
{
    if (!cond)
        __builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *zero = memchr(data, 0, size);
    size_t plen = zero ? (size_t)(zero - data) : size;
    const char *pat = (const char *)data;
    const char *subj = zero ? (const char *)zero + 1 : (const char *)data;
    size_t slen = zero ? size - plen - 1 : size;

    mqr__regex_t *re = NULL;
    mqr_diag_t d;
    int rc = mqr__regex_compile(pat, plen, NULL, &re, &d);
    if (rc != MQR_OK) {
        check(re == NULL && d.code == rc && d.offset <= plen);
        return 0;
    }
    size_t ng = mqr__regex_groups(re) + 1;
    size_t caps[2 * (MQR_REGEX_MAX_GROUPS + 1)];
    uint64_t steps = 0;
    rc = mqr__regex_search(re, subj, slen, 0, 0, caps, ng, &steps);
    check(rc == MQR_OK || rc == MQR_NO_MATCH);
    /* linear bound of regex.h: at most 2 * size * (code points + 1); bytes
     * are an upper bound on code points */
    check(steps <= 2 * (uint64_t)mqr__regex_size(re) * (slen + 1));
    if (rc == MQR_OK) {
        check(caps[0] <= caps[1] && caps[1] <= slen);
        for (size_t g = 1; g < ng; g++) {
            if (caps[2 * g] == MQR_REGEX_UNSET) {
                check(caps[2 * g + 1] == MQR_REGEX_UNSET);
                continue;
            }
            check(caps[2 * g] <= caps[2 * g + 1] && caps[2 * g + 1] <= slen);
        }
    }
    if (slen <= 256) {
        char *out = NULL;
        size_t n = 0;
        rc = mqr__regex_replace(re, subj, slen, "<&\\1>", 5, NULL, &out, &n);
        check(rc == MQR_OK && out != NULL && out[n] == '\0');
        mqr__free(NULL, out, n + 1);
    }
    mqr__regex_free(re);
    return 0;
}
