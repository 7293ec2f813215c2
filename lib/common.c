/* SPDX-License-Identifier: MIT */
/*
 * common.c - version, status names and messages (generated from the X-macro
 * list in mqttrule/common.h), the default allocator and diagnostics helpers.
 * Nothing here keeps state: every table is const.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#if defined(__linux__) && defined(__has_include)
#  if __has_include(<sys/random.h>)
#    include <sys/random.h>
#    define MQR__HAVE_GETRANDOM 1
#  endif
#endif

#include "internal.h"

const char *mqr_version(void) { return MQR_VERSION_STRING; }

uint32_t mqr_version_number(void) { return MQR_VERSION_NUMBER; }

const char *mqr_status_name(int status)
{
    switch (status) {
#define MQR__STATUS_NAME(name, value, msg) \
    case value: return "MQR_" #name;
        MQR_STATUS_MAP(MQR__STATUS_NAME)
#undef MQR__STATUS_NAME
    default: return "MQR_UNKNOWN";
    }
}

const char *mqr_strerror(int status)
{
    switch (status) {
#define MQR__STATUS_MSG(name, value, msg) \
    case value: return msg;
        MQR_STATUS_MAP(MQR__STATUS_MSG)
#undef MQR__STATUS_MSG
    default: return "unknown status";
    }
}

/* splitmix64 finaliser: spreads the entropy of every input bit over the result. */
static uint64_t mix64(uint64_t x)
{
    x ^= x >> 30;
    x *= UINT64_C(0xbf58476d1ce4e5b9);
    x ^= x >> 27;
    x *= UINT64_C(0x94d049bb133111eb);
    x ^= x >> 31;
    return x;
}

uint64_t mqr__random_seed(const void *salt)
{
    uint64_t seed = 0;
#ifdef MQR__HAVE_GETRANDOM
    if (getrandom(&seed, sizeof seed, GRND_NONBLOCK) != (ssize_t)sizeof seed)
        seed = 0;
#endif
    if (seed == 0) {
        /* No kernel entropy: the clock, the process and the caller's address
         * differ between processes, restarts and handles of one process. */
        struct timespec ts = {0, 0};
        (void)clock_gettime(CLOCK_REALTIME, &ts);
        uint64_t x = (uint64_t)ts.tv_sec * UINT64_C(1000000000) + (uint64_t)ts.tv_nsec;
        x ^= (uint64_t)getpid() << 32;
        x ^= (uint64_t)(uintptr_t)salt;
        (void)clock_gettime(CLOCK_MONOTONIC, &ts);
        x ^= mix64((uint64_t)ts.tv_nsec + (uint64_t)ts.tv_sec);
        seed = mix64(x);
    }
    return seed ? seed : UINT64_C(0x9e3779b97f4a7c15);
}

const char *mqr__strerror_r(int err, char *buf, size_t cap)
{
    if (!buf || cap == 0)
        return "";
    char text[256] = ""; /* room for any C library's text; then cut to cap */
#if defined(_GNU_SOURCE) && defined(__GLIBC__)
    /* GNU form: returns the text, which may or may not be in `text`. */
    const char *s = strerror_r(err, text, sizeof text);
#else
    /* XSI form (_POSIX_C_SOURCE >= 200112L): 0 on success. */
    const char *s = strerror_r(err, text, sizeof text) == 0 ? text : "";
#endif
    if (s && s[0])
        snprintf(buf, cap, "%s", s);
    else
        snprintf(buf, cap, "error %d", err);
    return buf;
}

void mqr_diag_clear(mqr_diag_t *diag)
{
    if (!diag)
        return;
    memset(diag, 0, sizeof *diag);
    diag->reason_code = -1;
}

/* The allocator contract of common.h; a NULL allocator or function is libc. */
static void *call_alloc(const mqr_allocator_t *a, void *ptr, size_t old_size, size_t new_size)
{
    if (a && a->fn)
        return a->fn(a->ud, ptr, old_size, new_size);
    if (new_size == 0) {
        free(ptr);
        return NULL;
    }
    return realloc(ptr, new_size);
}

void *mqr__alloc(const mqr_allocator_t *a, size_t size)
{
    return call_alloc(a, NULL, 0, size ? size : 1);
}

void *mqr__calloc(const mqr_allocator_t *a, size_t n, size_t size)
{
    if (size && n > SIZE_MAX / size)
        return NULL;
    size_t total = n * size;
    void *p = mqr__alloc(a, total);
    if (p && total)
        memset(p, 0, total);
    return p;
}

void *mqr__realloc(const mqr_allocator_t *a, void *ptr, size_t old_size, size_t new_size)
{
    if (!ptr)
        return mqr__alloc(a, new_size);
    return call_alloc(a, ptr, old_size, new_size ? new_size : 1);
}

void mqr__free(const mqr_allocator_t *a, void *ptr, size_t size)
{
    if (ptr)
        call_alloc(a, ptr, size, 0);
}

char *mqr__strndup(const mqr_allocator_t *a, const char *s, size_t len)
{
    char *p = mqr__alloc(a, len + 1);
    if (p) {
        memcpy(p, s, len);
        p[len] = '\0';
    }
    return p;
}

int mqr__diag_vset(mqr_diag_t *d, int code, const char *fmt, va_list ap)
{
    if (d) {
        mqr_diag_clear(d);
        d->code = code;
        vsnprintf(d->message, sizeof d->message, fmt, ap);
    }
    return code;
}

int mqr__diag_set(mqr_diag_t *d, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    mqr__diag_vset(d, code, fmt, ap);
    va_end(ap);
    return code;
}
