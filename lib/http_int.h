/* SPDX-License-Identifier: MIT */
/*
 * http_int.h - what the HTTP client's files share and nothing else sees: the
 * URL parser, the response head parser and body decoder (http_parse.c), and
 * the TLS layer (http_tls_openssl.c, present only when MQR_HAVE_OPENSSL).
 */
#ifndef MQR_HTTP_INT_H
#define MQR_HTTP_INT_H

#include <stddef.h>
#include <stdint.h>

#include "internal.h"
#include "mqr_config.h"
#include "mqttrule/http.h"

/* ---- the client's close hook --------------------------------------------- */

/* Called with a connection's descriptor just before the client closes it, so
 * that the engine tells its host to stop watching it while the number is
 * still the client's. */
typedef void (*mqr__http_close_fn)(void *ud, int fd);
void mqr__http_set_close_hook(mqr_http_client_t *c, mqr__http_close_fn fn, void *ud);

/* ---- URL ------------------------------------------------------------------ */

/* A parsed URL; host and path point into the parsed string. */
typedef struct mqr__http_url {
    int tls;            /* 1 for https */
    const char *host;   /* without IPv6 brackets */
    size_t host_len;
    int host_is_ipv6;   /* written in brackets in the URL */
    uint16_t port;      /* explicit or the scheme's default */
    int port_explicit;
    const char *path;   /* from the first '/' or '?', "" when absent */
    size_t path_len;
} mqr__http_url_t;

/* Parse `url` (NUL-terminated). MQR_OK, MQR_EINVAL (diag message and offset)
 * or MQR_ENOTSUP (https without OpenSSL). */
int mqr__http_url_parse(const char *url, mqr__http_url_t *out, mqr_diag_t *diag);

/* Check request-target bytes (a path and query): printable ASCII without
 * space. MQR_OK or MQR_EINVAL naming `what` and the byte offset. */
int mqr__http_path_check(const char *what, const char *p, size_t len, mqr_diag_t *diag);

/* ---- response head -------------------------------------------------------- */

#define MQR__HTTP_BODY_NONE 0     /* no body (1xx, 204, 304, Content-Length: 0) */
#define MQR__HTTP_BODY_LENGTH 1   /* Content-Length bytes */
#define MQR__HTTP_BODY_CHUNKED 2  /* Transfer-Encoding: chunked */
#define MQR__HTTP_BODY_CLOSE 3    /* until the server closes the connection */

#define MQR__HTTP_MAX_HEADERS 100

typedef struct mqr__http_head {
    int status;              /* 100..999 */
    int minor_version;       /* HTTP/1.x */
    int keep_alive;          /* the connection may carry another request */
    int body_mode;           /* MQR__HTTP_BODY_* */
    uint64_t content_length; /* MQR__HTTP_BODY_LENGTH */
    size_t head_len;         /* bytes of status line, headers and blank line */
} mqr__http_head_t;

/* Parse a response head at the start of buf[0..len), picohttpparser style:
 * MQR_OK with *out filled (out->head_len bytes belong to the head),
 * MQR_NEED_MORE when the blank line has not arrived yet and len < max_head,
 * MQR_ELIMIT when it has not arrived within max_head bytes, MQR_EHTTP on
 * malformed input (diag: message and byte offset). Stateless; never reads
 * past len. */
int mqr__http_parse_head(const char *buf, size_t len, size_t max_head, mqr__http_head_t *out,
                         mqr_diag_t *diag);

/* ---- response body -------------------------------------------------------- */

typedef struct mqr__http_body {
    int mode;            /* MQR__HTTP_BODY_* */
    int state;           /* chunked decoder state */
    uint64_t remaining;  /* bytes left in the body or current chunk */
    uint32_t line_len;   /* bytes of the current size, extension or trailer line */
    uint32_t trailer_bytes;
} mqr__http_body_t;

void mqr__http_body_init(mqr__http_body_t *b, const mqr__http_head_t *head);

/* Consume body bytes from buf[0..len) (discarding them). Sets *out_used to the
 * bytes that belong to the body. MQR_OK when the body is complete, MQR_NEED_MORE
 * when all of buf was used and more is expected, MQR_EHTTP on a malformed chunk
 * encoding. */
int mqr__http_body_feed(mqr__http_body_t *b, const char *buf, size_t len, size_t *out_used,
                        mqr_diag_t *diag);

/* The server closed the connection: MQR_OK if that ends the body (read-until-
 * close, or already complete), MQR_EHTTP otherwise. */
int mqr__http_body_eof(const mqr__http_body_t *b, mqr_diag_t *diag);

/* Case-insensitive comparison of n bytes (ASCII). 1 when equal. */
int mqr__http_ieq(const char *a, const char *b, size_t n);

/* ---- TLS (http_tls_openssl.c) ---------------------------------------------- */
#if MQR_HAVE_OPENSSL
typedef struct mqr__http_tls_ctx mqr__http_tls_ctx_t;
typedef struct mqr__http_tls mqr__http_tls_t;

/* A context for one client: CA file (NULL: system paths), verification unless
 * insecure. MQR_OK, MQR_ETLS (diag) or MQR_ENOMEM. */
int mqr__http_tls_ctx_new(const char *ca_file, int insecure, mqr__http_tls_ctx_t **out,
                          mqr_diag_t *diag);
void mqr__http_tls_ctx_free(mqr__http_tls_ctx_t *ctx);

/* A TLS session over connected socket fd, checking the certificate against
 * host (a DNS name or an IP literal). MQR_OK or MQR_ENOMEM/MQR_ETLS. */
int mqr__http_tls_new(mqr__http_tls_ctx_t *ctx, int fd, const char *host, mqr__http_tls_t **out,
                      mqr_diag_t *diag);
void mqr__http_tls_free(mqr__http_tls_t *t);

/* Drive the handshake. MQR_OK when done, MQR_NEED_MORE with *want set to
 * MQR_HTTP_READ or MQR_HTTP_WRITE, MQR_ETLS with a message. */
int mqr__http_tls_handshake(mqr__http_tls_t *t, uint32_t *want, mqr_diag_t *diag);

/* Read or write like recv/send on a non-blocking socket: bytes moved (> 0),
 * 0 for a clean close (read only), MQR_NEED_MORE with *want set, or MQR_ETLS
 * / MQR_EIO with a message. */
long mqr__http_tls_read(mqr__http_tls_t *t, void *buf, size_t len, uint32_t *want,
                        mqr_diag_t *diag);
long mqr__http_tls_write(mqr__http_tls_t *t, const void *buf, size_t len, uint32_t *want,
                         mqr_diag_t *diag);
#endif

#endif /* MQR_HTTP_INT_H */
