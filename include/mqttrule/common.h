/* SPDX-License-Identifier: MIT */
/*
 * mqttrule/common.h - what every module shares: the version, the status codes
 * (one X-macro list that generates the enum, mqr_status_name() and
 * mqr_strerror()), the allocator hook, the diagnostics struct and the export
 * macro.
 *
 * Status convention: MQR_OK is 0, positive values are non-error outcomes
 * (MQR_NEED_MORE, MQR_NO_MATCH), negative values are errors. Codes are never
 * renumbered; new codes are appended inside their module's block.
 */
#ifndef MQTTRULE_COMMON_H
#define MQTTRULE_COMMON_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- export macro ------------------------------------------------------- */
#if defined(_WIN32)
#  if defined(MQR_BUILDING)
#    define MQR_API __declspec(dllexport)
#  else
#    define MQR_API
#  endif
#elif defined(__GNUC__)
#  define MQR_API __attribute__((visibility("default")))
#else
#  define MQR_API
#endif

/* ---- version ------------------------------------------------------------ */
#define MQR_VERSION_MAJOR 0
#define MQR_VERSION_MINOR 1
#define MQR_VERSION_PATCH 0
#define MQR_VERSION_STRING "0.1.0"
/* MAJOR*10000 + MINOR*100 + PATCH */
#define MQR_VERSION_NUMBER (MQR_VERSION_MAJOR * 10000 + MQR_VERSION_MINOR * 100 + MQR_VERSION_PATCH)

/** The library's version string, e.g. "0.1.0". Static storage; thread-safe. */
MQR_API const char *mqr_version(void);
/** The library's version as MAJOR*10000 + MINOR*100 + PATCH. Thread-safe. */
MQR_API uint32_t mqr_version_number(void);

/* ---- status codes -------------------------------------------------------- */
/*
 * X(NAME, value, "message"). Blocks: generic -1..-99, packet -100..-199,
 * rule -200..-299, json/value -300..-399, engine/actions -400..-499,
 * broker/config -500..-599. Append inside a block; never renumber.
 */
#define MQR_STATUS_MAP(X)                                                              \
    X(OK, 0, "success")                                                                \
    X(NEED_MORE, 1, "more input bytes are needed")                                     \
    X(NO_MATCH, 2, "the rule did not match")                                           \
    X(EINVAL, -1, "invalid argument")                                                  \
    X(ENOMEM, -2, "out of memory")                                                     \
    X(EBUFFER, -3, "output buffer too small")                                          \
    X(ELIMIT, -4, "a configured limit was exceeded")                                   \
    X(ENOTFOUND, -5, "not found")                                                      \
    X(EEXIST, -6, "already exists")                                                    \
    X(ENOTSUP, -7, "not supported")                                                    \
    X(EIO, -8, "input/output error")                                                   \
    X(ESTATE, -9, "call not allowed in the current state")                             \
    X(EAGAIN, -10, "busy: try again later")                                            \
    X(EMALFORMED, -100, "malformed packet")                                            \
    X(EPROTOCOL, -101, "protocol error")                                               \
    X(ETOOLARGE, -102, "packet too large")                                             \
    X(EUTF8, -103, "invalid UTF-8 string")                                             \
    X(ETOPIC, -104, "invalid topic name")                                              \
    X(EFILTER, -105, "invalid topic filter")                                           \
    X(EPROPERTY, -106, "invalid MQTT property")                                        \
    X(EPROTOVER, -107, "unsupported protocol version")                                 \
    X(ESYNTAX, -200, "SQL syntax error")                                               \
    X(ECOMPILE, -201, "SQL compile error")                                             \
    X(EEVAL, -202, "rule evaluation error")                                            \
    X(EJSON, -300, "invalid JSON")                                                     \
    X(ETYPE, -301, "wrong value type")                                                 \
    X(EOVERFLOW, -302, "integer overflow")                                             \
    X(ERESOLVE, -400, "name resolution failed")                                        \
    X(ECONNECT, -401, "connection failed")                                             \
    X(ETLS, -402, "TLS error")                                                         \
    X(ETIMEOUT, -403, "timed out")                                                     \
    X(EHTTP, -404, "HTTP error")                                                       \
    X(ECONFIG, -500, "configuration error")

typedef enum mqr_status {
#define MQR__STATUS_ENUM(name, value, msg) MQR_##name = value,
    MQR_STATUS_MAP(MQR__STATUS_ENUM)
#undef MQR__STATUS_ENUM
    MQR__STATUS_END_ = -9999
} mqr_status_t;

/** "MQR_NEED_MORE" for MQR_NEED_MORE; "MQR_UNKNOWN" for a value not in the list.
 *  Static storage; thread-safe. */
MQR_API const char *mqr_status_name(int status);
/** A one-line English description of a status; "unknown status" for others.
 *  Static storage; thread-safe. */
MQR_API const char *mqr_strerror(int status);

/* ---- diagnostics ---------------------------------------------------------- */
/*
 * Details of a failure, filled by any call that takes an `mqr_diag_t *`
 * (which may always be NULL). Plain fixed-size fields so it can be read from
 * ctypes. `reason_code` is the MQTT 5 reason code a broker should answer with
 * (0x81 malformed_packet, 0x82 protocol_error, 0x95 packet_too_large, ...) or
 * -1 where none applies. `packet_type` is the MQTT control packet type (1..15)
 * or 0. `offset` is the byte offset into the input; `line` and `column`
 * (1-based, 0 = not applicable) locate errors in text input such as SQL.
 */
#define MQR_DIAG_MESSAGE_MAX 256
#define MQR_DIAG_FIELD_MAX 48
typedef struct mqr_diag {
    int32_t code;
    int32_t reason_code;
    int32_t packet_type;
    uint32_t line;
    uint32_t column;
    uint32_t reserved_;
    uint64_t offset;
    char field[MQR_DIAG_FIELD_MAX];
    char message[MQR_DIAG_MESSAGE_MAX];
} mqr_diag_t;

/** Reset *diag to "no error" (code MQR_OK, reason_code -1, empty strings).
 *  NULL is accepted and ignored. */
MQR_API void mqr_diag_clear(mqr_diag_t *diag);

/* ---- allocator -------------------------------------------------------------- */
/*
 * One allocator function per handle, in the style of Lua's lua_Alloc:
 *   new_size == 0: free ptr (old_size is its size), return NULL;
 *   ptr == NULL:   allocate new_size bytes;
 *   otherwise:     resize ptr from old_size to new_size.
 * Returning NULL for a non-zero new_size means failure; the library then
 * reports MQR_ENOMEM and leaves the handle usable. The function must be safe
 * to call from whichever thread uses the handle.
 */
typedef void *(*mqr_alloc_fn)(void *ud, void *ptr, size_t old_size, size_t new_size);

typedef struct mqr_allocator {
    mqr_alloc_fn fn; /* NULL: the C library's realloc/free */
    void *ud;
} mqr_allocator_t;

#ifdef __cplusplus
}
#endif
#endif /* MQTTRULE_COMMON_H */
