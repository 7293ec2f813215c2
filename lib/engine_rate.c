/* SPDX-License-Identifier: MIT */
/*
 * engine_rate.c - the rate metrics of a rule's `matched` counter, as EMQX's
 * emqx_metrics_worker computes them: matched.rate, matched.rate.max and
 * matched.rate.last5m.
 *
 * How it works. EMQX samples each counter every ?SAMPLING (10) seconds: the
 * rate of an interval is (counter - counter at the last sample) / 10, the
 * max is the largest such rate, and last5m is the mean of the last
 * ?SAMPCOUNT_5M (30) rates, or of the rates sampled so far while there are
 * fewer. The engine has no thread and no timer of its own, so the samples
 * are taken when it is called: at the start of an emit that matched a rule
 * and from the host's mqr_engine_process / mqr_engine_fd_ready, with the
 * engine's wall clock (the `clock` option, injectable in tests). Ticks that
 * passed without a call are taken then, in order: the first sees the
 * counter's growth, the others nothing (no call happened, so no emit
 * matched in between). Reading the metrics takes the due ticks on a copy,
 * so what is read is up to date even when the host did not call in.
 *
 * The samples are match counts per interval, held as integers (the sum of
 * the window is exact, it never drifts), turned into rates when read.
 * A clock that steps back restarts the interval without a sample.
 */
#include <string.h>

#include "engine_int.h"

#define INTERVAL ((int64_t)MQR_ENGINE_RATE_INTERVAL_MS)
#define NSAMPLES MQR_ENGINE_RATE_SAMPLES

/* One sample of counter value v: EMQX's calculate_rate. */
static void sample(mqr__rate_t *rt, uint64_t v)
{
    uint64_t d = v >= rt->last_v ? v - rt->last_v : 0;
    rt->last_v = v;
    rt->cur = d;
    if (d > rt->max)
        rt->max = d;
    if (rt->n < NSAMPLES) {
        rt->smpl[rt->n++] = d;
        rt->acc += d;
    } else {
        rt->acc += d - rt->smpl[rt->head];
        rt->smpl[rt->head] = d;
        rt->head = (rt->head + 1) % NSAMPLES;
    }
}

/* Take k due samples of counter v: the first sees its growth, the rest
 * nothing; after NSAMPLES + 1 empty samples more change nothing. */
static void advance(mqr__rate_t *rt, uint64_t v, uint64_t k)
{
    if (k == 0)
        return;
    sample(rt, v);
    for (uint64_t i = 1; i < k && i <= NSAMPLES + 1u; i++)
        sample(rt, v);
}

/* How many ticks are due at `now` given the next tick at *next (0: none
 * yet), and where the next one is after them. */
static uint64_t due_ticks(int64_t now, int64_t *next)
{
    if (*next == 0 || now < *next - INTERVAL) { /* first call, or the clock stepped back */
        *next = now + INTERVAL;
        return 0;
    }
    if (now < *next)
        return 0;
    uint64_t k = (uint64_t)((now - *next) / INTERVAL) + 1;
    *next += (int64_t)k * INTERVAL;
    return k;
}

void mqr__engine_rate_step(mqr_engine_t *e, int64_t now)
{
    uint64_t k = due_ticks(now, &e->rate_next);
    if (k == 0)
        return;
    for (mqr__erule_t *r = e->first; r; r = r->next)
        advance(&r->rate, r->m.matched, k);
}

static double round2(double x)
{
    /* EMQX's precision(X, 2): round(X * 100) / 100 */
    double y = x * 100.0;
    y = (double)(int64_t)(y + 0.5);
    return y / 100.0;
}

void mqr__engine_rate_read(const mqr_engine_t *e, const mqr__erule_t *r, mqr_rule_metrics_t *out)
{
    mqr__rate_t rt = r->rate;
    int64_t next = e->rate_next;
    if (next != 0)
        advance(&rt, r->m.matched, due_ticks(mqr__engine_now(e), &next));
    double per_s = 1000.0 / (double)INTERVAL;
    out->matched_rate = round2((double)rt.cur * per_s);
    out->matched_rate_max = round2((double)rt.max * per_s);
    out->matched_rate_last5m = rt.n ? round2((double)rt.acc * per_s / (double)rt.n) : 0.0;
}

void mqr__engine_rate_reset(mqr__erule_t *r)
{
    memset(&r->rate, 0, sizeof r->rate);
    r->rate.last_v = r->m.matched;
}
