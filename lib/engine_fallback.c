/* SPDX-License-Identifier: MIT */
/*
 * engine_fallback.c - fallback actions (EMQX 5.7's fallback_actions) and
 * enabling or disabling an action.
 *
 * An action may name other actions of the engine to run when one of its
 * invocations finally fails: counted as failed (rendering, publisher or
 * callback refusal, non-retryable HTTP status, retries used up) or dropped
 * (queue full, expired). The fallbacks receive the output the action
 * received. For an action that ends at once (republish, callback, a refused
 * HTTP request, a custom action's queue refusing) that value is still in
 * the emit level's arena and is handed over as is. An HTTP or custom
 * action's message ends later, from the host loop or the sink's answer:
 * when the action has fallbacks the output is
 * kept as JSON beside the request (engine_actions.c) or the custom action's
 * queued item (engine_custom.c) and parsed here into
 * a free emit level, which is entered for the run so that an emit nested in
 * a fallback (a republish fed back by the host) takes the level above.
 *
 * No fallback of a fallback: while fallbacks run, e->in_fallback is set;
 * a failure then runs none, and an HTTP fallback keeps no JSON for later.
 * Ids are looked up when the failure happens, so removing a fallback action
 * leaves a dangling id that is skipped and reported as the action's error.
 *
 * A fallback-only action (EMQX's inline `{kind = republish, args = ...}`
 * fallback, which belongs to no rule) stays in its rule's list, so it is
 * removed with the rule, but the rule's run skips it (engine.c run_rule):
 * only run_all here invokes it.
 */
#include <string.h>

#include "engine_int.h"
#include "mqttrule/json.h"

void mqr__engine_fallback_free(mqr_engine_t *e, mqr__action_t *a)
{
    mqr__free(&e->alloc, a->fallback, a->nfallback * sizeof *a->fallback);
    a->fallback = NULL;
    a->nfallback = 0;
}

/* Run a's fallbacks on `out` at emit level cx. */
static void run_all(mqr_engine_t *e, mqr__emit_ctx_t *cx, mqr__action_t *a,
                    const mqr_value_t *out)
{
    e->in_fallback++;
    for (uint32_t i = 0; i < a->nfallback; i++) {
        mqr__action_t *b = mqr__engine_action_find(e, a->fallback[i]);
        if (!b) {
            mqr__engine_error(e, NULL, a, MQR_ENOTFOUND, NULL,
                              "fallback: action %u no longer exists", a->fallback[i]);
            continue;
        }
        mqr__engine_action_run(e, cx, b, out);
    }
    e->in_fallback--;
}

void mqr__engine_fallback(mqr_engine_t *e, mqr__emit_ctx_t *cx, mqr__action_t *a,
                          const mqr_value_t *output, const char *json, size_t len)
{
    if (e->in_fallback || !a->nfallback)
        return;
    a->m.fallback_triggered++;
    if (output) {
        run_all(e, cx, a, output);
        return;
    }
    /* a message ended from the host loop (or inside a submit): take a free level */
    uint32_t lv = e->depth;
    if (lv >= MQR_ENGINE_MAX_DEPTH || mqr__engine_level_ready(e, lv) != MQR_OK) {
        mqr__engine_error(e, NULL, a, lv >= MQR_ENGINE_MAX_DEPTH ? MQR_ELIMIT : MQR_ENOMEM, NULL,
                          "fallback: no emit level to run the fallback actions in");
        return;
    }
    mqr__emit_ctx_t *fx = &e->ctx[lv];
    mqr_arena_reset(fx->arena);
    mqr_value_t v;
    mqr_diag_t d;
    int rc = mqr_json_parse(fx->arena, json, len, 0, &v, &d);
    if (rc != MQR_OK) {
        mqr__engine_error(e, NULL, a, rc, NULL, "fallback: the kept output: %s", d.message);
        return;
    }
    fx->columns = &v;
    fx->republish_by = NULL;
    fx->republish_by_len = 0;
    /* The fallbacks continue a's own invocation, not a trigger its output
     * caused: they run as a's rule at this level (so what they republish
     * carries the rule in its cause chain), and a level below that runs the
     * same rule (a drop inside its submit) is not taken for their cause. */
    fx->cause = NULL;
    fx->cause_len = 0;
    fx->next_cause = NULL;
    fx->next_cause_len = 0;
    fx->running = a->rule;
    mqr__emit_ctx_t *outer = lv > 0 && e->ctx[lv - 1].running == a->rule ? &e->ctx[lv - 1] : NULL;
    if (outer)
        outer->running = NULL;
    e->depth++;
    run_all(e, fx, a, &v);
    e->depth--;
    if (outer)
        outer->running = a->rule;
}

/* Action `id` for a change: MQR_OK with *out, MQR_EINVAL, MQR_ESTATE, MQR_ENOTFOUND. */
static int action_mutable(mqr_engine_t *e, uint32_t id, mqr__action_t **out)
{
    if (!e)
        return MQR_EINVAL;
    if (e->depth)
        return MQR_ESTATE;
    *out = mqr__engine_action_find(e, id);
    return *out ? MQR_OK : MQR_ENOTFOUND;
}

int mqr_engine_action_set_fallback(mqr_engine_t *e, uint32_t action_id,
                                   const uint32_t *fallback_ids, size_t n)
{
    mqr__action_t *a;
    if (e && ((!fallback_ids && n) || n > MQR_ENGINE_MAX_FALLBACKS))
        return MQR_EINVAL;
    int rc = action_mutable(e, action_id, &a);
    if (rc != MQR_OK)
        return rc;
    for (size_t i = 0; i < n; i++) {
        if (fallback_ids[i] == action_id)
            return MQR_EINVAL;
        if (!mqr__engine_action_find(e, fallback_ids[i]))
            return MQR_ENOTFOUND;
    }
    uint32_t *ids = NULL;
    if (n && !(ids = mqr__alloc(&e->alloc, n * sizeof *ids)))
        return MQR_ENOMEM;
    if (n)
        memcpy(ids, fallback_ids, n * sizeof *ids);
    mqr__engine_fallback_free(e, a);
    a->fallback = ids;
    a->nfallback = (uint32_t)n;
    return MQR_OK;
}

int mqr_engine_action_set_fallback_only(mqr_engine_t *e, uint32_t action_id, uint32_t only)
{
    mqr__action_t *a;
    int rc = action_mutable(e, action_id, &a);
    if (rc == MQR_OK)
        a->fallback_only = only ? 1 : 0;
    return rc;
}

int mqr_engine_action_enable(mqr_engine_t *e, uint32_t action_id, uint32_t enabled)
{
    mqr__action_t *a;
    int rc = action_mutable(e, action_id, &a);
    if (rc == MQR_OK)
        a->disabled = enabled ? 0 : 1;
    return rc;
}
