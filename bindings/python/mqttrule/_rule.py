# SPDX-License-Identifier: MIT
"""mqttrule.Rule: one compiled rule (mqr_rule_t) with its evaluation scratch.

A Rule compiles its SQL once in the constructor and owns three library
objects: the compiled rule, an evaluation scratch and an arena for the
context's columns. evaluate() loads the context into the arena, runs
mqr_rule_eval_json and reads the JSON back, so repeated evaluations reuse
the same warm memory and nothing grows with their number.
"""

import ctypes
import json

from . import _lib
from ._base import (L, OK, NO_MATCH, EvaluationError, SQLSyntaxError, ValueArena,
                    diag_message, raise_status)

RULE_UNDEFINED_AS_NULL = 0x01
_SRC_TOPIC = 0


class Rule:
    """A compiled rule of EMQX's rule SQL.

    ``Rule(sql, rule_id="sql_tester", undefined_as_null=False)`` compiles
    ``sql``; a statement that does not compile raises SQLSyntaxError with
    ``line``, ``column`` and ``message``. ``undefined_as_null`` renders
    missing values as None instead of the string "undefined" (decision D4).

    Use it as a context manager or call close() to free it at once; a
    closed Rule raises ValueError. A Rule is not thread-safe: use one per
    thread.
    """

    def __init__(self, sql, rule_id="sql_tester", undefined_as_null=False):
        self._rule = ctypes.c_void_p()
        self._scratch = ctypes.c_void_p()
        self._columns = None
        sql_b = sql.encode("utf-8")
        opts = _lib.RuleOptions()
        L.mqr_rule_options_init(ctypes.byref(opts))
        opts.rule_id = rule_id.encode("utf-8")
        if undefined_as_null:
            opts.flags |= RULE_UNDEFINED_AS_NULL
        diag = _lib.Diag()
        rc = L.mqr_rule_compile(sql_b, len(sql_b), ctypes.byref(opts),
                                ctypes.byref(self._rule), ctypes.byref(diag))
        if rc != OK:
            raise SQLSyntaxError(rc, diag_message(diag), diag.line, diag.column,
                                 diag.offset)
        rc = L.mqr_rule_scratch_create(None, ctypes.byref(self._scratch))
        if rc != OK:
            self.close()
            raise_status(rc)
        self._columns = ValueArena()
        self.sql = sql
        self.rule_id = rule_id

    @property
    def sources(self):
        """The FROM entries, without quotes, in statement order."""
        self._check()
        n = L.mqr_rule_source_count(self._rule)
        return [L.mqr_rule_source(self._rule, i, None).decode("utf-8") for i in range(n)]

    @property
    def is_foreach(self):
        """True for a FOREACH statement."""
        self._check()
        return bool(L.mqr_rule_is_foreach(self._rule))

    def _check(self):
        if not self._rule:
            raise ValueError("rule is closed")

    def _from_matches(self, event_type, ctx):
        """Whether FROM accepts the context's trigger: a message's topic
        against the topic filters, an event by its event topic (D5)."""
        if event_type == "message_publish":
            topic = ctx.get("topic")
            if topic is None:
                n = L.mqr_rule_source_count(self._rule)
                return any(L.mqr_rule_source_kind(self._rule, i) == _SRC_TOPIC
                           for i in range(n))
            t = str(topic).encode("utf-8")
            return bool(L.mqr_rule_matches_topic(self._rule, t, len(t)))
        if event_type.startswith("$"):
            name = event_type.encode("utf-8")
        else:
            name = ("$events/" + event_type).encode("utf-8")
        return bool(L.mqr_rule_matches_event(self._rule, name, len(name)))

    def evaluate(self, context):
        """Run the rule over one trigger and return its output.

        ``context`` is a dict as mqttrule-sql takes it (docs/sql-tester.md):
        ``event_type`` picks the trigger (default "message_publish"), the
        other keys are its columns; a ``payload`` given as a dict or list is
        passed as its JSON text.

        Returns a dict for SELECT, a list of dicts for FOREACH, None when
        FROM or WHERE does not match (FOREACH that produces no element: []).
        Raises EvaluationError for an evaluation exception or limit,
        TypeError when context is not a dict, ValueError when closed.
        """
        self._check()
        if not isinstance(context, dict):
            raise TypeError("context must be a dict")
        ctx = dict(context)
        event_type = str(ctx.pop("event_type", "message_publish"))
        if not self._from_matches(event_type, ctx):
            return None
        if isinstance(ctx.get("payload"), (dict, list)):
            ctx["payload"] = json.dumps(ctx["payload"], separators=(",", ":"))
        columns = self._columns.load(ctx)
        out = ctypes.c_void_p()
        out_len = ctypes.c_size_t()
        diag = _lib.Diag()
        rc = L.mqr_rule_eval_json(self._rule, self._scratch, ctypes.byref(columns),
                                  ctypes.byref(out), ctypes.byref(out_len),
                                  ctypes.byref(diag))
        if rc == OK:
            return json.loads(ctypes.string_at(out, out_len.value).decode("utf-8"))
        if rc == NO_MATCH:
            return [] if L.mqr_rule_is_foreach(self._rule) else None
        if rc < 0 and rc not in (-1, -2):
            raise EvaluationError(rc, diag_message(diag))
        raise_status(rc, diag)

    def close(self):
        """Free the compiled rule and its memory; safe to call twice."""
        if self._columns is not None:
            self._columns.close()
            self._columns = None
        if self._scratch:
            L.mqr_rule_scratch_free(self._scratch)
            self._scratch = ctypes.c_void_p()
        if self._rule:
            L.mqr_rule_free(self._rule)
            self._rule = ctypes.c_void_p()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        if "_columns" in self.__dict__:  # __init__ got far enough to own memory
            self.close()
