/* SPDX-License-Identifier: MIT */
/*
 * regex.h - internal regular expressions for the rule functions regex_match,
 * regex_replace and regex_extract: a PCRE subset over UTF-8 code points,
 * compiled to a small program and run by a Pike VM (as in RE2 and Go), so a
 * match costs O(program size x subject length) whatever the pattern; there is
 * no backtracking. The dialect is documented in docs/regex.md.
 *
 * Lifecycle:
 *   1. mqr__regex_compile() parses the pattern into an immutable program
 *      allocated through the given allocator.
 *   2. mqr__regex_exec() / mqr__regex_search() / mqr__regex_replace() run it,
 *      any number of times, from any number of threads at once: every call
 *      keeps its state in caller-provided scratch (exec), in scratch from
 *      the caller's allocator (replace), or in scratch it allocates and
 *      frees through the program's allocator (search, which therefore needs
 *      a thread-safe allocator when the program is shared).
 *   3. mqr__regex_free() releases the program (NULL is accepted).
 */
#ifndef MQR_REGEX_H
#define MQR_REGEX_H

#include <stddef.h>
#include <stdint.h>

#include "mqttrule/common.h"

/* Limits; exceeding one is MQR_ELIMIT at compile time. */
#define MQR_REGEX_MAX_PATTERN 8192 /* pattern bytes */
#define MQR_REGEX_MAX_INSTS 20000  /* program instructions after expanding {n,m} */
#define MQR_REGEX_MAX_GROUPS 64    /* capturing groups, not counting the whole match */
#define MQR_REGEX_MAX_REPEAT 1000  /* largest n or m in {n,m} */
#define MQR_REGEX_MAX_DEPTH 100    /* nesting of groups */

/* Flags of mqr__regex_exec / mqr__regex_search. */
#define MQR_REGEX_ANCHORED 0x1u         /* match only at `start` */
#define MQR_REGEX_NOTEMPTY_ATSTART 0x2u /* reject an empty match at `start` */

/* A capture offset of a group that did not take part in the match. */
#define MQR_REGEX_UNSET SIZE_MAX

typedef struct mqr__regex mqr__regex_t;

/*
 * Compile pattern[0..len) (UTF-8; need not be NUL-terminated). On success
 * *out_re owns a program allocated through `a` (NULL: libc), and MQR_OK is
 * returned. Errors, each with diag->offset (byte offset into the pattern) and
 * a message in `diag` (may be NULL); *out_re is then NULL:
 *   MQR_EINVAL  syntax error (unbalanced parenthesis, bad escape, range out
 *               of order, quantifier without operand, invalid UTF-8 ...)
 *   MQR_ENOTSUP valid PCRE this dialect lacks (backreferences, lookaround,
 *               atomic groups, \p properties, inline flags after the start ...)
 *   MQR_ELIMIT  a limit above was exceeded
 *   MQR_ENOMEM  the allocator failed (nothing leaks)
 */
int mqr__regex_compile(const char *pattern, size_t len, const mqr_allocator_t *a,
                       mqr__regex_t **out_re, mqr_diag_t *diag);

/* Free a program; NULL is ignored. */
void mqr__regex_free(mqr__regex_t *re);

/* Number of capturing groups (not counting group 0, the whole match). */
size_t mqr__regex_groups(const mqr__regex_t *re);

/* Number of program instructions (for tests and step bounds). */
size_t mqr__regex_size(const mqr__regex_t *re);

/* Scratch bytes mqr__regex_exec needs to report `ncaps` capture pairs. */
size_t mqr__regex_scratch_size(const mqr__regex_t *re, size_t ncaps);

/*
 * Search subject[0..len) for the leftmost match starting at or after byte
 * `start` (`start` must be a code point boundary; text before it is seen by
 * ^, \b and \B). Among matches at the same position the one PCRE would pick
 * wins: alternatives left to right, greedy quantifiers longest first, lazy
 * ones shortest first.
 *
 * `caps` receives 2 * ncaps offsets: caps[0], caps[1] = the whole match;
 * caps[2g], caps[2g+1] = group g, or MQR_REGEX_UNSET; pairs beyond the
 * pattern's groups are set to MQR_REGEX_UNSET. caps may be NULL if ncaps is 0.
 * `scratch` is at least mqr__regex_scratch_size(re, ncaps) bytes, aligned for
 * size_t, owned by the caller and only used during the call.
 * *out_steps (may be NULL) gets the number of VM steps taken, which is at
 * most 2 * mqr__regex_size(re) * (code points from start + 1).
 *
 * Invalid UTF-8 in the subject is matched one byte at a time: such a byte
 * matches '.', negated classes and nothing else.
 *
 * Returns MQR_OK (match), MQR_NO_MATCH, or MQR_EINVAL (start > len, scratch
 * too small, NULL re).
 */
int mqr__regex_exec(const mqr__regex_t *re, const char *subject, size_t len, size_t start,
                    unsigned flags, size_t *caps, size_t ncaps, void *scratch,
                    size_t scratch_len, uint64_t *out_steps);

/* mqr__regex_exec with scratch allocated through the program's allocator for
 * the duration of the call; additionally MQR_ENOMEM. */
int mqr__regex_search(const mqr__regex_t *re, const char *subject, size_t len, size_t start,
                      unsigned flags, size_t *caps, size_t ncaps, uint64_t *out_steps);

/*
 * Replace every match in subject[0..len) by `rep` (EMQX's regex_replace, Erlang
 * re:replace with [global]): in rep, '&' is the whole match, "\N" (one digit
 * 0-9) and "\g{N}" are group N (empty if unset or absent), "\&" is a literal
 * '&' and "\\" a literal backslash; any other backslash is copied as it is.
 * After an empty match the next match may not be empty at the same place, as
 * in PCRE global matching ("x*" on "abc" with "-" gives "-a-b-c-").
 *
 * On MQR_OK, *out is a NUL-terminated string of *out_len bytes allocated
 * through `a` (NULL: libc); the caller frees it with mqr__free(a, *out,
 * *out_len + 1). The VM's scratch is also taken from (and returned to) `a`,
 * never from the program's allocator, so a program shared between threads
 * is only read. Errors: MQR_ENOMEM (nothing leaks, *out NULL).
 */
int mqr__regex_replace(const mqr__regex_t *re, const char *subject, size_t len,
                       const char *rep, size_t rep_len, const mqr_allocator_t *a, char **out,
                       size_t *out_len);

#endif /* MQR_REGEX_H */
