# SPDX-License-Identifier: MIT
"""mqttrule.Rule: one compiled rule (mqr_rule_t) with its evaluation scratch.

A Rule compiles its SQL once in the constructor and owns three library
objects: the compiled rule, an evaluation scratch and an arena for the
context's columns. evaluate() loads the context into the arena, has
mqr_rule_test_columns (the same builder mqttrule-sql uses) turn it into
the trigger's columns and check FROM, runs mqr_rule_eval, renders the
output with mqr_json_write into a reused buffer and reads it back, so repeated evaluations reuse the same warm memory and nothing
grows with their number.
"""

import ctypes
import json
import time

from . import _lib
from ._base import (L, OK, NO_MATCH, EvaluationError, SQLSyntaxError, ValueArena,
                    diag_message, raise_status)

RULE_UNDEFINED_AS_NULL = 0x01
JSON_UNDEFINED_AS_NULL = 0x01
EBUFFER = -3
_VAL_ARRAY = 6
NAMES = {"doc": 0, "emqx": 1}
_ENOTFOUND = -5


class Rule:
    """A compiled rule of EMQX's rule SQL.

    ``Rule(sql, rule_id="sql_tester", undefined_as_null=False, names="doc",
    node=None, now_ms=None)`` compiles ``sql``; a statement that does not
    compile raises SQLSyntaxError with ``line``, ``column`` and
    ``message``. ``undefined_as_null`` renders missing values as None
    instead of the string "undefined" (decision D4). ``names`` is the
    reason-code profile for client_connack contexts (D1), ``node`` the
    `node` column (None: "emqx@127.0.0.1"), ``now_ms`` pins the clock of
    example times and ``timestamp`` (None: the time of each evaluation).

    Use it as a context manager or call close() to free it at once; a
    closed Rule raises ValueError. A Rule is not thread-safe: use one per
    thread.
    """

    def __init__(self, sql, rule_id="sql_tester", undefined_as_null=False, names="doc",
                 node=None, now_ms=None):
        if names not in NAMES:
            raise ValueError("names must be 'doc' or 'emqx'")
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
        self._id_seq = ctypes.c_uint64(0)
        self._node = None if node is None else node.encode("utf-8")
        self._test_opts = _lib.RuleTestOptions(names=NAMES[names], node=self._node,
                                               id_seq=ctypes.pointer(self._id_seq))
        self._now_ms = now_ms
        self._json_flags = JSON_UNDEFINED_AS_NULL if undefined_as_null else 0
        self._out = ctypes.create_string_buffer(4096)
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

    def evaluate(self, context):
        """Run the rule over one trigger and return its output.

        ``context`` is a dict as mqttrule-sql takes it (docs/sql-tester.md):
        ``event_type`` picks the trigger (default "message_publish"), the
        other keys fill its columns, and the fields it leaves out get the
        event table's example values; a message ``payload`` given as a dict
        or list is passed as its JSON text.

        Returns a dict for SELECT, a list of dicts for FOREACH, None when
        FROM or WHERE does not match (FOREACH that produces no element: []).
        Raises EvaluationError for an evaluation exception or limit,
        ValueError for an unknown event_type or a closed rule, TypeError
        when context is not a dict.
        """
        self._check()
        if not isinstance(context, dict):
            raise TypeError("context must be a dict")
        ctx = self._columns.load(context)
        self._test_opts.now_ms = (int(time.time() * 1000) if self._now_ms is None
                                  else self._now_ms)
        columns = _lib.Value()
        matched = ctypes.c_int32()
        diag = _lib.Diag()
        rc = L.mqr_rule_test_columns(self._rule, ctypes.byref(ctx), ctypes.byref(self._test_opts),
                                     self._columns.arena, ctypes.byref(columns),
                                     ctypes.byref(matched), ctypes.byref(diag))
        if rc == _ENOTFOUND:
            raise ValueError(diag_message(diag))
        if rc != OK:
            raise_status(rc, diag)
        if not matched.value:
            return None
        out = _lib.Value()
        rc = L.mqr_rule_eval(self._rule, self._scratch, ctypes.byref(columns),
                             ctypes.byref(out), ctypes.byref(diag))
        if rc == NO_MATCH:
            # WHERE false leaves the output undefined; a FOREACH that
            # matched without elements gives an empty array.
            return [] if out.type == _VAL_ARRAY else None
        if rc < 0 and rc not in (-1, -2):
            raise EvaluationError(rc, diag_message(diag))
        if rc != OK:
            raise_status(rc, diag)
        return json.loads(self._render(out))

    def _render(self, value):
        """The output value as JSON text, through a buffer kept between
        evaluations (grown to the largest output seen)."""
        n = ctypes.c_size_t()
        rc = L.mqr_json_write(ctypes.byref(value), self._json_flags, self._out,
                              len(self._out), ctypes.byref(n))
        if rc == EBUFFER:
            self._out = ctypes.create_string_buffer(n.value * 2)
            rc = L.mqr_json_write(ctypes.byref(value), self._json_flags, self._out,
                                  len(self._out), ctypes.byref(n))
        if rc != OK:
            raise_status(rc)
        return self._out.raw[:n.value].decode("utf-8")

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
