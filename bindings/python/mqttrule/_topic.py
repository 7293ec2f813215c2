# SPDX-License-Identifier: MIT
"""MQTT topics: validation, filter matching and the topic index
(mqttrule/topic.h, the trie the engine routes rules with).

TopicIndex maps topic filters to Python objects. The library holds opaque
pointers, so the index keeps each inserted object in a table keyed by a
small integer handle, which is what the C index stores; a match visits the
handles and returns the objects.
"""

import ctypes

from . import _lib
from ._base import L, OK, as_bytes as _b, raise_status


def validate_topic_name(topic):
    """Raise MqttruleError (MQR_ETOPIC, MQR_EUTF8) when ``topic`` is not a
    valid topic name (1..65535 bytes of UTF-8, no '+' or '#')."""
    raw = _b(topic)
    diag = _lib.Diag()
    rc = L.mqr_topic_validate_name(raw, len(raw), ctypes.byref(diag))
    if rc != OK:
        raise_status(rc, diag)


def validate_topic_filter(topic_filter):
    """Raise MqttruleError (MQR_ETOPIC, MQR_EUTF8) when ``topic_filter`` is
    not a valid topic filter ('+' a whole level, '#' the whole last level)."""
    raw = _b(topic_filter)
    diag = _lib.Diag()
    rc = L.mqr_topic_validate_filter(raw, len(raw), ctypes.byref(diag))
    if rc != OK:
        raise_status(rc, diag)


def topic_match(topic_filter, topic):
    """True when topic name ``topic`` matches ``topic_filter`` (MQTT rules:
    a first level starting with '$' is not matched by a wildcard)."""
    f, t = _b(topic_filter), _b(topic)
    return L.mqr_topic_match(f, len(f), t, len(t)) == 1


class TopicIndex:
    """Topic filters mapped to objects (mqr_topic_index_t).

    ``insert(filter, obj)``, ``remove(filter, obj)``, ``match(topic)`` (the
    objects under every matching filter, once per matching filter, in no
    particular order), ``len(index)``. Invalid filters are not checked here:
    call validate_topic_filter first. One thread at a time; close() or a
    ``with`` block frees it.
    """

    def __init__(self):
        self._index = ctypes.c_void_p()
        rc = L.mqr_topic_index_create(None, ctypes.byref(self._index))
        if rc != OK:
            raise_status(rc)
        self._objects = {}   # handle -> [obj, insertions]
        self._handles = {}   # id(obj) -> handle
        self._next = 1
        self._found = []
        self._visit = _lib.TOPIC_VISIT_FN(self._on_visit)

    def _on_visit(self, _ud, item):
        self._found.append(self._objects[item][0])

    def _check(self):
        if not self._index:
            raise ValueError("topic index is closed")

    def insert(self, topic_filter, obj):
        """Hold ``obj`` under ``topic_filter`` (the same object may be held
        under several filters, or twice under one)."""
        self._check()
        raw = _b(topic_filter)
        handle = self._handles.get(id(obj))
        if handle is None:
            handle = self._next
            self._next += 1
            self._objects[handle] = [obj, 0]
            self._handles[id(obj)] = handle
        rc = L.mqr_topic_index_insert(self._index, raw, len(raw), handle)
        if rc != OK:
            self._release(handle, 0)
            raise_status(rc)
        self._objects[handle][1] += 1

    def _release(self, handle, delta):
        entry = self._objects[handle]
        entry[1] -= delta
        if entry[1] <= 0:
            del self._objects[handle]
            del self._handles[id(entry[0])]

    def remove(self, topic_filter, obj):
        """Remove one instance of ``obj`` under ``topic_filter``; KeyError
        when it is not held there."""
        self._check()
        raw = _b(topic_filter)
        handle = self._handles.get(id(obj))
        if handle is None or L.mqr_topic_index_remove(self._index, raw, len(raw),
                                                      handle) != OK:
            raise KeyError((topic_filter, obj))
        self._release(handle, 1)

    def match(self, topic):
        """The objects held under the filters matching topic name ``topic``."""
        self._check()
        raw = _b(topic)
        self._found = []
        rc = L.mqr_topic_index_match(self._index, raw, len(raw), self._visit, None)
        found, self._found = self._found, []
        if rc != OK:
            raise_status(rc)
        return found

    def __len__(self):
        return L.mqr_topic_index_count(self._index) if self._index else 0

    def close(self):
        """Free the index; safe to call twice."""
        if self._index:
            L.mqr_topic_index_destroy(self._index)
            self._index = ctypes.c_void_p()
        self._objects = {}
        self._handles = {}

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        if "_index" in self.__dict__:
            self.close()
