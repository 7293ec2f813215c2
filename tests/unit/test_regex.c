/* SPDX-License-Identifier: MIT */
/* Tests of lib/regex.c: dialect, captures, leftmost-first choice, UTF-8,
 * linear time on pathological patterns, compile errors and replace. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "regex.h"

static mqr__regex_t *compile_ok(const char *pat)
{
    mqr__regex_t *re = NULL;
    mqr_diag_t d;
    int rc = mqr__regex_compile(pat, strlen(pat), NULL, &re, &d);
    cr_assert_eq(rc, MQR_OK, "compile /%s/: %s", pat, d.message);
    return re;
}

/* Search `subj` and render the result as "start-end" per group, "-" for an
 * unset group, separated by spaces; "nomatch" when there is none. */
static void run(const char *pat, const char *subj, char *out, size_t cap)
{
    mqr__regex_t *re = compile_ok(pat);
    size_t caps[2 * 10];
    size_t ng = mqr__regex_groups(re) + 1;
    cr_assert_leq(ng, 10);
    int rc = mqr__regex_search(re, subj, strlen(subj), 0, 0, caps, ng, NULL);
    out[0] = '\0';
    if (rc == MQR_NO_MATCH) {
        snprintf(out, cap, "nomatch");
    } else {
        cr_assert_eq(rc, MQR_OK);
        size_t o = 0;
        for (size_t g = 0; g < ng; g++) {
            if (caps[2 * g] == MQR_REGEX_UNSET)
                o += (size_t)snprintf(out + o, cap - o, "%s-", g ? " " : "");
            else
                o += (size_t)snprintf(out + o, cap - o, "%s%zu-%zu", g ? " " : "", caps[2 * g],
                                      caps[2 * g + 1]);
        }
    }
    mqr__regex_free(re);
}

static void check(const char *pat, const char *subj, const char *want)
{
    char got[256];
    run(pat, subj, got, sizeof got);
    cr_expect_str_eq(got, want, "/%s/ on \"%s\": got %s, want %s", pat, subj, got, want);
}

Test(regex, literals_and_dot)
{
    check("abc", "xxabcxx", "2-5");
    check("abc", "ab", "nomatch");
    check("a.c", "abc", "0-3");
    check("a.c", "a\nc", "nomatch");
    check("(?s)a.c", "a\nc", "0-3");
    check("", "abc", "0-0");
    check("a\\.c", "abc a.c", "4-7");
    check("\\\\", "a\\b", "1-2");
    check("\\x41\\x{42}", "zAB", "1-3");
    check("\\t\\n\\r", "x\t\n\r", "1-4");
    check("a{", "a{", "0-2");
    check("x{2,1", "x{2,1", "0-5");
    check("]}", "]}", "0-2");
}

Test(regex, classes)
{
    check("[abc]+", "xxcabz", "2-5");
    check("[^abc]+", "abxyzc", "2-5");
    check("[a-f0-9]+", "zz09afg", "2-6");
    check("[]a]+", "]a]b", "0-3");
    check("[^]a]", "]ab", "2-3");
    check("[a-]+", "-a-b", "0-3");
    check("[\\d.]+", "v1.25x", "1-5");
    check("[\\D]+", "12ab3", "2-4");
    check("[\\s]", "a b", "1-2");
    check("[a\\-z]+", "b-az", "1-4");
    check("[\\]]", "a]", "1-2");
    check("\\d+", "ab 123 c", "3-6");
    check("\\D+", "12ab3", "2-4");
    check("\\w+", "  foo_1 ", "2-7");
    check("\\W+", "ab, cd", "2-4");
    check("\\s+", "a \t\r\nb", "1-5");
    check("\\S+", "  ab  ", "2-4");
    check("[\\b]", "a\bb", "1-2");
}

Test(regex, anchors_and_word_boundary)
{
    check("^abc", "abcabc", "0-3");
    check("^abc", "xabc", "nomatch");
    check("abc$", "abcabc", "3-6");
    check("abc$", "abc\n", "0-3");
    check("abc$", "abc\nx", "nomatch");
    check("(?m)^b", "a\nb", "2-3");
    check("(?m)a$", "a\nb", "0-1");
    check("^", "", "0-0");
    check("$", "ab", "2-2");
    check("\\bfoo\\b", "afoo foo", "5-8");
    check("\\Bfoo", "foo afoo", "5-8");
    check("\\Aab", "ab", "0-2");
    check("ab\\z", "ab\n", "nomatch");
    check("ab\\Z", "ab\n", "0-2");
}

Test(regex, quantifiers)
{
    check("a*", "aaa", "0-3");
    check("a*", "baaa", "0-0");
    check("a+", "baaa", "1-4");
    check("ba?c", "bc bac", "0-2");
    check("a{2}", "aaaa", "0-2");
    check("a{2,}", "aaaa", "0-4");
    check("a{2,3}", "aaaa", "0-3");
    check("a{0}b", "ab", "1-2");
    check("a{0,1}b", "aab", "1-3");
    check("(ab){2}", "ababab", "0-4 2-4");
    check("a*?", "aaa", "0-0");
    check("a+?", "aaa", "0-1");
    check("a??b", "ab", "0-2");
    check("a{2,}?", "aaaa", "0-2");
    check("a{2,3}?", "aaaa", "0-2");
    check("<.*>", "<a><b>", "0-6");
    check("<.*?>", "<a><b>", "0-3");
    check("(a|b)*c", "abbac", "0-5 3-4");
}

Test(regex, captures)
{
    check("(a)(b)?(c)", "ac", "0-2 0-1 - 1-2");
    check("(\\d+)-(\\d+)", "tel 12-345", "4-10 4-6 7-10");
    check("((a)|(b))+", "ab", "0-2 1-2 0-1 1-2");
    check("(?:a|(b))+", "ab", "0-2 1-2");
    check("(?<year>\\d{4})-(?P<m>\\d\\d)", "on 2024-05", "3-10 3-7 8-10");
    check("(a*)+", "b", "0-0 0-0");
    check("(a*)*", "aa", "0-2 2-2");
}

/* Repeats of groups that can match empty, where a Pike VM naively differs
 * from backtracking engines; expected values are Perl's (and Python's). */
Test(regex, empty_iterations_as_pcre)
{
    check("(a*)+", "b", "0-0 0-0");
    check("([ab]{0,2}|)*", "bc", "0-1 1-1");
    check("(|c|.+\\w*?){0,2}$", "axbbx", "0-5 5-5");
    check("(|\\w[^a]+?[^a]+|a?\?){0,2}[^a]", "acxccaxx", "0-7 5-6");
    check("(.{2,}\\w|)+", "bacxa", "0-5 5-5");
    check("(c+?||[ab]?\?x*)*[ab]", "xax", "0-2 1-1");
    check("([ab]{0,2}||)*c?\?|", "bcx", "0-1 1-1");
    check("(x|)*y", "xxy", "0-3 2-2");
    check("(a|ab)*c", "abac", "0-4 2-3");
    check("((a)|b)*", "ab", "0-2 1-2 0-1");
    check("(a?){3}", "aa", "0-2 2-2");
    check("(a|)*?b", "aab", "0-3 1-2");
}

Test(regex, leftmost_first_alternation)
{
    /* PCRE picks the first alternative that matches, not the longest */
    check("a|ab", "ab", "0-1");
    check("ab|a", "ab", "0-2");
    check("(a|ab)(c|bcd)", "abcd", "0-4 0-1 1-4");
    check("(a+|b+)*c", "aabbc", "0-5 2-4");
    check("x*(a|aa)", "aa", "0-1 0-1");
    check("(foo|foobar)bar", "foobar", "0-6 0-3");
    check("|a", "a", "0-0");
}

Test(regex, case_insensitive)
{
    check("(?i)abc", "xAbC", "1-4");
    check("(?i)[a-c]+", "xAbCd", "1-4");
    check("(?i)[^a-c]+", "AbCd", "3-4");
    check("(?i)\\xC9t\\xC9", "\xC3\xA9T\xC3\xA9", "0-5");          /* éTé */
    check("(?i)\xCF\x83", "\xCE\xA3", "0-2");                      /* σ vs Σ */
    check("(?i)\xD0\xB4\xD0\xB0", "\xD0\x94\xD0\x90", "0-4");      /* да vs ДА */
    check("(?i)s", "\xC5\xBF", "0-2"); /* long s folds to s */
    check("abc", "ABC", "nomatch");
}

Test(regex, utf8_code_points)
{
    check("^.$", "\xE4\xBD\xA0", "0-3");                  /* one CJK code point */
    check("^..$", "\xE4\xBD\xA0\xE5\xA5\xBD", "0-6");
    check("[\xE4\xBD\xA0-\xE5\xA5\xBD]+", "a\xE4\xBD\xA0\xE5\xA5\xBD", "1-7");
    check("\xF0\x9F\x98\x80+", "x\xF0\x9F\x98\x80\xF0\x9F\x98\x80", "1-9"); /* + applies to the emoji */
    check("\\x{1F600}", "\xF0\x9F\x98\x80", "0-4");
    check("a.b", "a\xFF" "b", "0-3");                     /* an invalid byte is one unit */
    check("[^x]", "\xFF", "0-1");
    check("\\w", "\xC3\xA9z", "2-3");                     /* \w is ASCII */
}

Test(regex, search_from_offset_and_flags)
{
    mqr__regex_t *re = compile_ok("\\bab");
    size_t caps[2];
    cr_assert_eq(mqr__regex_search(re, "ab ab", 5, 1, 0, caps, 1, NULL), MQR_OK);
    cr_assert_eq(caps[0], 3); /* offset 1 is not at a word boundary: 'a' precedes */
    cr_assert_eq(mqr__regex_search(re, "ab ab", 5, 1, MQR_REGEX_ANCHORED, caps, 1, NULL),
                 MQR_NO_MATCH);
    cr_assert_eq(mqr__regex_search(re, "ab ab", 5, 3, MQR_REGEX_ANCHORED, caps, 1, NULL), MQR_OK);
    cr_assert_eq(mqr__regex_search(re, "ab", 2, 3, 0, caps, 1, NULL), MQR_EINVAL);
    mqr__regex_free(re);

    re = compile_ok("a*");
    cr_assert_eq(mqr__regex_search(re, "baa", 3, 0, MQR_REGEX_NOTEMPTY_ATSTART, caps, 1, NULL),
                 MQR_OK);
    cr_assert_eq(caps[0], 1);
    cr_assert_eq(caps[1], 3);
    /* no captures asked for: still matches */
    cr_assert_eq(mqr__regex_search(re, "baa", 3, 0, 0, NULL, 0, NULL), MQR_OK);
    /* more pairs than groups: the rest are unset */
    size_t many[6];
    cr_assert_eq(mqr__regex_search(re, "aa", 2, 0, 0, many, 3, NULL), MQR_OK);
    cr_assert_eq(many[1], 2);
    cr_assert_eq(many[2], MQR_REGEX_UNSET);
    cr_assert_eq(many[5], MQR_REGEX_UNSET);
    mqr__regex_free(re);
}

Test(regex, caller_scratch)
{
    mqr__regex_t *re = compile_ok("(b+)");
    size_t need = mqr__regex_scratch_size(re, 2), caps[4];
    size_t *scratch = malloc(need);
    cr_assert_eq(mqr__regex_exec(re, "abbc", 4, 0, 0, caps, 2, scratch, need - 1, NULL),
                 MQR_EINVAL);
    cr_assert_eq(mqr__regex_exec(re, "abbc", 4, 0, 0, caps, 2, scratch, need, NULL), MQR_OK);
    cr_assert_eq(caps[2], 1);
    cr_assert_eq(caps[3], 3);
    cr_assert_eq(mqr__regex_exec(NULL, "abbc", 4, 0, 0, caps, 2, scratch, need, NULL),
                 MQR_EINVAL);
    free(scratch);
    mqr__regex_free(re);
    mqr__regex_free(NULL);
}

/* The classic exponential cases for backtracking engines: 100k 'a' with no
 * 'b'. The step count must stay within the linear bound of regex.h. */
static void assert_linear(const char *pat, size_t n)
{
    mqr__regex_t *re = compile_ok(pat);
    char *s = malloc(n);
    memset(s, 'a', n);
    uint64_t steps = 0;
    size_t caps[4];
    cr_assert_eq(mqr__regex_search(re, s, n, 0, 0, caps, 2, &steps), MQR_NO_MATCH);
    uint64_t bound = 2 * (uint64_t)mqr__regex_size(re) * (n + 1);
    cr_assert_leq(steps, bound, "/%s/: %llu steps > %llu", pat, (unsigned long long)steps,
                  (unsigned long long)bound);
    cr_assert_gt(steps, n); /* it did look at the input */
    free(s);
    mqr__regex_free(re);
}

Test(regex, pathological_patterns_are_linear)
{
    assert_linear("(a*)*b", 100000);
    assert_linear("(a|a)*b", 100000);
    assert_linear("(a+)+b", 100000);
    assert_linear("(a|aa)+$b", 100000);
    assert_linear("(?:a?){30}a{30}b", 100000);
}

Test(regex, literal_prefix_skips_ahead)
{
    /* a pattern that starts with a literal jumps (memchr) between candidates */
    size_t n = 100000;
    char *s = malloc(n);
    memset(s, 'a', n);
    memcpy(s + n - 8, "needle!!", 8);
    mqr__regex_t *re = compile_ok("ne+dle\\b");
    size_t caps[2];
    uint64_t steps = 0;
    cr_assert_eq(mqr__regex_search(re, s, n, 0, 0, caps, 1, &steps), MQR_OK);
    cr_assert_eq(caps[0], n - 8);
    cr_assert_eq(caps[1], n - 2);
    cr_assert_lt(steps, 100);
    s[n - 8] = 'N';
    cr_assert_eq(mqr__regex_search(re, s, n, 0, 0, caps, 1, &steps), MQR_NO_MATCH);
    cr_assert_lt(steps, 100);
    mqr__regex_free(re);
    free(s);
    check("x\\b", "xxy x", "4-5");
    check("(a)b", "aab", "1-3 1-2");
    check("(?i)ab", "xaAB", "2-4");
    check("\xC3\xA9t\xC3\xA9", "\xC3\xA0\xC3\xA9t\xC3\xA9", "2-7");
}

Test(regex, pathological_pattern_matches_correctly)
{
    /* (a?){n}a{n} on a^n: exponential for backtrackers, fine here */
    check("^(?:a?){25}a{25}$", "aaaaaaaaaaaaaaaaaaaaaaaaa", "0-25");
}

static void compile_err(const char *pat, int rc, size_t off)
{
    mqr__regex_t *re = (mqr__regex_t *)1;
    mqr_diag_t d;
    cr_assert_eq(mqr__regex_compile(pat, strlen(pat), NULL, &re, &d), rc, "/%s/: %s", pat,
                 d.message);
    cr_assert_null(re);
    cr_assert_eq(d.code, rc);
    cr_assert_eq(d.offset, off, "/%s/: offset %llu (%s)", pat, (unsigned long long)d.offset,
                 d.message);
    cr_assert_neq(d.message[0], '\0');
}

Test(regex, compile_errors)
{
    compile_err("(ab", MQR_EINVAL, 0);
    compile_err("ab)", MQR_EINVAL, 2);
    compile_err("x[ab", MQR_EINVAL, 1);
    compile_err("*a", MQR_EINVAL, 0);
    compile_err("a(*)", MQR_EINVAL, 2);
    compile_err("a|+", MQR_EINVAL, 2);
    compile_err("a**", MQR_EINVAL, 2);
    compile_err("^*", MQR_EINVAL, 1);
    compile_err("[z-a]", MQR_EINVAL, 1);
    compile_err("a{3,2}", MQR_EINVAL, 1);
    compile_err("ab\\", MQR_EINVAL, 2);
    compile_err("\\q", MQR_EINVAL, 0);
    compile_err("a(?", MQR_EINVAL, 1);
    compile_err("a(?)", MQR_EINVAL, 1);
    compile_err("\\x{110000}", MQR_EINVAL, 0);
    compile_err("\\xzz", MQR_EINVAL, 0);
    compile_err("(?<n", MQR_EINVAL, 0);
    compile_err("a\xC3", MQR_EINVAL, 1);
    compile_err("(a)\\1", MQR_ENOTSUP, 3);
    compile_err("a(?=b)", MQR_ENOTSUP, 1);
    compile_err("a(?!b)", MQR_ENOTSUP, 1);
    compile_err("(?<=a)b", MQR_ENOTSUP, 0);
    compile_err("(?<!a)b", MQR_ENOTSUP, 0);
    compile_err("(?>a)", MQR_ENOTSUP, 0);
    compile_err("a(?i)b", MQR_ENOTSUP, 1);
    compile_err("(?i:a)", MQR_ENOTSUP, 0);
    compile_err("a++", MQR_ENOTSUP, 2);
    compile_err("\\p{L}", MQR_ENOTSUP, 0);
    compile_err("[[:alpha:]]", MQR_ENOTSUP, 1);
    compile_err("a{1001}", MQR_ELIMIT, 1);
    compile_err("(?:a{1000}){1000}", MQR_ELIMIT, 0);
}

Test(regex, error_messages_name_the_problem)
{
    mqr__regex_t *re = NULL;
    mqr_diag_t d;
    cr_assert_eq(mqr__regex_compile("ab\\q", 4, NULL, &re, &d), MQR_EINVAL);
    cr_assert_str_eq(d.message, "regex: unknown escape \\q at offset 2");
    cr_assert_eq(mqr__regex_compile("(a)\\1", 5, NULL, &re, &d), MQR_ENOTSUP);
    cr_assert_str_eq(d.message, "regex: backreferences are not supported: \\1 at offset 3");
    cr_assert_eq(mqr__regex_compile("a(?=b)", 6, NULL, &re, &d), MQR_ENOTSUP);
    cr_assert_str_eq(d.message, "regex: lookaround assertions are not supported at offset 1");
    cr_assert_eq(mqr__regex_compile("(ab", 3, NULL, &re, NULL), MQR_EINVAL); /* diag optional */
}

Test(regex, limits_exact)
{
    mqr__regex_t *re = NULL;
    mqr_diag_t d;
    cr_assert_eq(mqr__regex_compile("a{1000}", 7, NULL, &re, &d), MQR_OK);
    mqr__regex_free(re);
    char pat[MQR_REGEX_MAX_PATTERN + 1];
    memset(pat, 'a', sizeof pat);
    cr_assert_eq(mqr__regex_compile(pat, MQR_REGEX_MAX_PATTERN, NULL, &re, &d), MQR_OK);
    mqr__regex_free(re);
    cr_assert_eq(mqr__regex_compile(pat, MQR_REGEX_MAX_PATTERN + 1, NULL, &re, &d), MQR_ELIMIT);
    /* groups: exactly the limit, then one more */
    char g[4 * (MQR_REGEX_MAX_GROUPS + 1) + 1];
    size_t o = 0;
    for (int i = 0; i < MQR_REGEX_MAX_GROUPS; i++)
        o += (size_t)snprintf(g + o, sizeof g - o, "(a)");
    cr_assert_eq(mqr__regex_compile(g, o, NULL, &re, &d), MQR_OK);
    cr_assert_eq(mqr__regex_groups(re), MQR_REGEX_MAX_GROUPS);
    mqr__regex_free(re);
    o += (size_t)snprintf(g + o, sizeof g - o, "(a)");
    cr_assert_eq(mqr__regex_compile(g, o, NULL, &re, &d), MQR_ELIMIT);
    /* nesting */
    char n[2 * (MQR_REGEX_MAX_DEPTH + 1) + 1];
    memset(n, '(', MQR_REGEX_MAX_DEPTH + 1);
    memset(n + MQR_REGEX_MAX_DEPTH + 1, ')', MQR_REGEX_MAX_DEPTH + 1);
    cr_assert_eq(mqr__regex_compile(n + 1, 2 * MQR_REGEX_MAX_DEPTH, NULL, &re, &d), MQR_ELIMIT,
                 "%s", d.message); /* 100 nested capture groups exceed 64 groups first */
}

static void check_replace(const char *pat, const char *subj, const char *rep, const char *want)
{
    mqr__regex_t *re = compile_ok(pat);
    char *out = NULL;
    size_t n = 0;
    cr_assert_eq(mqr__regex_replace(re, subj, strlen(subj), rep, strlen(rep), NULL, &out, &n),
                 MQR_OK);
    cr_expect_str_eq(out, want, "/%s/ on \"%s\" with \"%s\"", pat, subj, rep);
    cr_assert_eq(n, strlen(want));
    mqr__free(NULL, out, n + 1);
    mqr__regex_free(re);
}

Test(regex, replace_all)
{
    check_replace("o", "foo boo", "0", "f00 b00");
    check_replace("\\d+", "a1b22c333", "<&>", "a<1>b<22>c<333>");
    check_replace("(\\w+)@(\\w+)", "x joe@host y", "\\2 at \\1", "x host at joe y");
    check_replace("(a)", "a", "\\g{1}\\g{0}\\&\\\\", "aa&\\");
    check_replace("(a)", "a", "\\5\\q", "\\q");
    check_replace("x*", "abc", "-", "-a-b-c-");
    check_replace("a|", "bab", "-", "-b--b-");
    check_replace("nomatch", "abc", "-", "abc");
    check_replace("", "", "-", "-");
    check_replace("b", "b", "", "");
    check_replace("\xC3\xA9*", "\xC3\xA9t\xC3\xA9", "-", "--t--");
}

/* An allocator that fails the Nth call. */
typedef struct failing {
    int countdown;
    size_t live;
} failing_t;

static void *failing_alloc(void *ud, void *ptr, size_t old_size, size_t new_size)
{
    failing_t *f = ud;
    if (new_size == 0) {
        f->live -= old_size;
        free(ptr);
        return NULL;
    }
    if (f->countdown-- == 0)
        return NULL;
    void *q = realloc(ptr, new_size);
    if (q)
        f->live += new_size - old_size;
    return q;
}

Test(regex, allocation_failure_every_point)
{
    const char *pat = "(a|[b-d]+)\\w*x{2,4}";
    int ok = 0;
    for (int n = 0; !ok && n < 200; n++) {
        failing_t f = {n, 0};
        mqr_allocator_t a = {failing_alloc, &f};
        mqr__regex_t *re = NULL;
        int rc = mqr__regex_compile(pat, strlen(pat), &a, &re, NULL);
        if (rc == MQR_ENOMEM) {
            cr_assert_null(re);
            cr_assert_eq(f.live, 0, "leak after failing allocation %d", n);
            continue;
        }
        cr_assert_eq(rc, MQR_OK);
        char *out = NULL;
        size_t len = 0;
        rc = mqr__regex_replace(re, "bcxx zz axxx", 12, "[&]", 3, &a, &out, &len);
        if (rc == MQR_OK) {
            cr_assert_str_eq(out, "[bcxx] zz [axxx]");
            mqr__free(&a, out, len + 1);
            ok = 1;
        } else {
            cr_assert_eq(rc, MQR_ENOMEM);
            cr_assert_null(out);
        }
        mqr__regex_free(re);
        cr_assert_eq(f.live, 0, "leak at %d", n);
    }
    cr_assert(ok);
}

/* Patterns big enough that the parser's node, class and range arrays and
 * the replace buffer all grow: every failing allocation leaves no leak. */
Test(regex, allocation_failure_while_growing)
{
    const char *pat = "(?:[0-9a-fA-F]{2}[:-]){5}[0-9a-fA-F]{2}|[g-k][m-p][r-t][u-w][xyz]"
                      "|id=(\\d+)|\\bfoo(bar)*baz\\s\\W|[\\d\\D\\w\\W]";
    char subj[400];
    size_t o = 0;
    while (o + 24 < sizeof subj)
        o += (size_t)snprintf(subj + o, sizeof subj - o, "mac 00:1b:44:11:3a:b7 ");
    int compiled = 0, replaced = 0;
    for (int n = 0; !replaced && n < 2000; n++) {
        failing_t f = {n, 0};
        mqr_allocator_t a = {failing_alloc, &f};
        mqr__regex_t *re = NULL;
        int rc = mqr__regex_compile(pat, strlen(pat), &a, &re, NULL);
        if (rc != MQR_OK) {
            cr_assert_eq(rc, MQR_ENOMEM);
            cr_assert_eq(f.live, 0, "leak after failing allocation %d", n);
            continue;
        }
        compiled = 1;
        char *out = NULL;
        size_t len = 0;
        rc = mqr__regex_replace(re, subj, o, "<&>", 3, &a, &out, &len);
        if (rc == MQR_OK) {
            const char *want = "<m><a><c>< ><00:1b:44:11:3a:b7>< ><m>";
            cr_assert_eq(strncmp(out, want, strlen(want)), 0, "%.40s", out);
            mqr__free(&a, out, len + 1);
            replaced = 1;
        } else {
            cr_assert_eq(rc, MQR_ENOMEM);
        }
        mqr__regex_free(re);
        cr_assert_eq(f.live, 0, "leak at %d", n);
    }
    cr_assert(compiled && replaced);
}

/* One compiled program used by several threads at once, each with its own
 * scratch (run under -DMQR_TSAN=ON to check for races). */
typedef struct shared_job {
    const mqr__regex_t *re;
    int ok;
} shared_job_t;

static void *search_many(void *arg)
{
    shared_job_t *job = arg;
    char subj[64];
    job->ok = 1;
    for (int i = 0; i < 2000; i++) {
        int n = snprintf(subj, sizeof subj, "id=%d;name=dev%d", i, i * 7);
        size_t caps[6];
        if (mqr__regex_search(job->re, subj, (size_t)n, 0, 0, caps, 3, NULL) != MQR_OK ||
            caps[2] != 3 || caps[5] != (size_t)n) {
            job->ok = 0;
            break;
        }
    }
    return NULL;
}

Test(regex, one_program_many_threads)
{
    mqr__regex_t *re = compile_ok("id=(\\d+);name=(\\w+)$");
    pthread_t th[4];
    shared_job_t jobs[4];
    for (int i = 0; i < 4; i++) {
        jobs[i].re = re;
        cr_assert_eq(pthread_create(&th[i], NULL, search_many, &jobs[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        cr_assert(jobs[i].ok, "thread %d", i);
    }
    mqr__regex_free(re);
}
