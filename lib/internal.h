/* SPDX-License-Identifier: MIT */
/*
 * internal.h - helpers shared by the library's files and not part of the API:
 * allocation through a handle's allocator, diagnostics formatting, and small
 * utilities. Everything here is hidden (-fvisibility=hidden).
 */
#ifndef MQR_INTERNAL_H
#define MQR_INTERNAL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "mqttrule/common.h"

#if defined(__GNUC__)
#  define MQR__PRINTF(f, a) __attribute__((format(printf, f, a)))
#  define MQR__LIKELY(x) __builtin_expect(!!(x), 1)
#  define MQR__UNLIKELY(x) __builtin_expect(!!(x), 0)
#else
#  define MQR__PRINTF(f, a)
#  define MQR__LIKELY(x) (x)
#  define MQR__UNLIKELY(x) (x)
#endif

#define MQR__ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* Allocation through an allocator; `a` may be NULL (libc). */
void *mqr__alloc(const mqr_allocator_t *a, size_t size);
void *mqr__calloc(const mqr_allocator_t *a, size_t n, size_t size);
void *mqr__realloc(const mqr_allocator_t *a, void *ptr, size_t old_size, size_t new_size);
void mqr__free(const mqr_allocator_t *a, void *ptr, size_t size);
char *mqr__strndup(const mqr_allocator_t *a, const char *s, size_t len);

/* Fill a diagnostic (NULL is fine) and return `code`, so callers can write
 * `return mqr__diag_set(d, MQR_EINVAL, "...", ...);`. reason_code -1. */
int mqr__diag_set(mqr_diag_t *d, int code, const char *fmt, ...) MQR__PRINTF(3, 4);
int mqr__diag_vset(mqr_diag_t *d, int code, const char *fmt, va_list ap);

/* The text of errno value `err` in buf (cap bytes, NUL-terminated, cut to
 * fit), reentrant unlike strerror() (strerror_r, XSI or GNU form): "error <n>"
 * when the C library has no text. Returns buf ("" when buf is NULL or cap 0). Thread-safe. */
const char *mqr__strerror_r(int err, char *buf, size_t cap);

/* A non-zero 64-bit seed that differs between processes and calls: getrandom()
 * where available, else the clocks, the process id and `salt` (an address of
 * the caller's handle) mixed together. Thread-safe; keeps no state. */
uint64_t mqr__random_seed(const void *salt);

#endif /* MQR_INTERNAL_H */
