/* SPDX-License-Identifier: MIT */
/*
 * broker.h - the types shared by the files of mqttrule-broker, the
 * single-threaded MQTT broker built on libmqttrule.
 *
 * Files: main.c (start-up, signals), log.c (clocks, the log line), stats.c
 * (counters, the SIGUSR1 stats line), config.c (flags and the configuration
 * file), loop.c (epoll or poll, listener, socket I/O, timers), listener.c
 * (listener options, each connection's transport), tls.c (TLS through
 * OpenSSL, when built with it), ws.c (MQTT over WebSocket), mqtt.c
 * (the MQTT protocol: CONNECT decisions, sessions, routing, retained
 * messages, wills), auth.c (password file, bans, ACL), events.c (the seam
 * to the rule engine: every event and message goes through it), sys.c ($SYS
 * topics, CONNACK counters, recent refusals) and admin*.c (the admin HTTP
 * listener: REST API, Prometheus, the live page; admin.h).
 *
 * Everything runs on one thread. A connection owns little memory while idle:
 * its struct, and an input buffer only while a partial packet is pending (reads
 * go into one shared buffer first).
 */
#ifndef MQR_BROKER_H
#define MQR_BROKER_H

#include <stddef.h>
#include <stdint.h>
#include <signal.h>
#include <stdio.h>
#include <sys/socket.h>

#include "mqttrule.h"

/* ---- limits and defaults ----------------------------------------------------- */
#define BRK_RBUF_SIZE (64u * 1024u)      /* the shared read buffer */
#define BRK_CONNECT_TIMEOUT_MS 10000     /* default connect_timeout_ms */
#define BRK_DEFER_ACCEPT_S 1             /* TCP_DEFER_ACCEPT seconds (tcp_defer_accept) */
#define BRK_MAX_LISTENERS 8
#define BRK_MAX_OUT_QOS0 (8u * 1024u * 1024u) /* unsent bytes above which QoS 0 is dropped */
#define BRK_ROUND_OUT_MAX (64u * 1024u) /* bytes a connection collects before writing mid-round */
#define BRK_ACCEPT_PER_ROUND 256 /* sockets one listener accepts per loop round */

/* Listener of a connection or the kind of a watched descriptor. */
#define BRK_W_LISTENER 1
#define BRK_W_CONN 2
#define BRK_W_ENGINE 3
#define BRK_W_ENGINE_OFF 4 /* an engine descriptor no longer watched (stale events) */
#define BRK_W_ADMIN 5      /* the admin HTTP listener (admin.c) */
#define BRK_W_ADMIN_CONN 6 /* an admin HTTP connection */

/* conn_t.state */
#define BRK_CS_NEW 0       /* waiting for CONNECT */
#define BRK_CS_CONNECTED 1 /* CONNACK 0 sent */
#define BRK_CS_CLOSED 2    /* socket closed, freed at the end of the loop round */

/* Log levels (brk_log): mosquitto's log types. 0 and 1 keep the meaning the
 * first levels had (always; with -v). brk_config_t.log_types has bit
 * (1 << level) set for each level written. */
#define BRK_LOG_NOTICE 0
#define BRK_LOG_INFO 1     /* log_type information */
#define BRK_LOG_DEBUG 2
#define BRK_LOG_WARNING 3
#define BRK_LOG_ERROR 4
#define BRK_LOG_DEFAULT ((1u << BRK_LOG_ERROR) | (1u << BRK_LOG_WARNING) | (1u << BRK_LOG_NOTICE))
#define BRK_LOG_ALL 0x1Fu

/* ACL access bits */
#define BRK_ACC_READ 1u
#define BRK_ACC_WRITE 2u
#define BRK_ACC_DENY 4u

/* ---- configuration ------------------------------------------------------------- */
typedef struct brk_str_list {
    char **items;
    size_t count;
} brk_str_list_t;

typedef struct brk_acl {
    char *user;     /* NULL: applies to everyone */
    char *filter;
    uint32_t access; /* BRK_ACC_* */
} brk_acl_t;

/* One option line of an action block: `KEY VALUE...` (value: the rest of
 * the line with its outer blanks removed; "" when the line has only a key). */
typedef struct brk_action_opt {
    char *key;
    char *value;
    char *file;     /* where the line is, for "file:line: what is wrong" */
    unsigned line;
} brk_action_opt_t;

/* An action as configured: `action TYPE` ... `end` inside a rule block, or
 * a one-line shorthand (`republish TOPIC` is type republish with option
 * topic, `http URL` type http with option url). config.c only collects the
 * options; the type's factory (actions.c) checks and builds them. */
typedef struct brk_action_cfg {
    char *type;            /* "republish", "http", or a type a sink adds */
    brk_action_opt_t *opts;
    size_t nopts;
    char *file;            /* where `action TYPE` (or the shorthand) is */
    unsigned line;
    int is_fallback;       /* 1: a `fallback TYPE` block (messages say "fallback TYPE") */
    /* `fallback TYPE` ... `end` blocks inside this action (EMQX's
     * fallback_actions): actions run only when this one fails for good;
     * fallbacks have none of their own. */
    struct brk_action_cfg *fallbacks;
    size_t nfallbacks;
} brk_action_cfg_t;

/* Free what an action configuration holds (options, fallbacks), not a itself. */
void brk_action_cfg_free(brk_action_cfg_t *a);
/* Append a zeroed action configuration to the array *v of *n; returns it. */
brk_action_cfg_t *brk_action_cfg_append(brk_action_cfg_t **v, size_t *n);

typedef struct brk_rule_cfg {
    char *id;
    char *sql;
    brk_action_cfg_t *actions;
    size_t nactions;
    char *where;    /* "file:line" or "--rule N", for messages */
} brk_rule_cfg_t;

/* One `listener PORT [ADDR]` and the options following it (listener.c). A
 * listener is TLS when it has a certfile. */
typedef struct brk_listener_cfg {
    char *addr;
    uint16_t port;
    uint8_t websockets;       /* protocol websockets */
    uint8_t require_cert;     /* require_certificate */
    uint8_t identity_as_user; /* use_identity_as_username */
    uint8_t tls_min;          /* tls_version: 12 or 13 (minimum); 0: 1.2 */
    char *certfile, *keyfile, *cafile, *capath;
    char *ciphers, *ciphers13; /* ciphers (TLS <= 1.2), ciphers_tls1.3 */
    char *crlfile;            /* crlfile: PEM CRLs checked against client certificates */
    char *mqtt_path;          /* WebSocket path; NULL: "/mqtt" */
    brk_str_list_t ws_origins; /* ws_check_origins: allowed Origin values; none: no check */
    uint8_t ws_no_origin;     /* ws_allow_origin_absence: 0 not given (true), 1 true, 2 false */
    char *where;              /* "file:line" of the listener line, for messages */
} brk_listener_cfg_t;

/* persistence (persist.c): the directives, and the state they drive */
typedef struct brk_persist_cfg {
    int enabled;              /* persistence true|false */
    char *location;           /* persistence_location DIR */
    uint32_t autosave_s;      /* autosave_interval; 0: 5 s */
    int32_t sync;             /* persistence_sync: MQR_QUEUE_SYNC_* of action queues */
    uint32_t sync_ms;         /* its interval; 0: 100 ms */
    uint64_t max_bytes;       /* persistence_max_bytes per action queue; 0: 256 MiB */
    int64_t next_save_ms;     /* monotonic time of the next snapshot */
    uint64_t saves, save_errors;
    int save_errno;           /* errno of the last failed snapshot */
    uint64_t save_failing;    /* failed snapshots since the last one written (logged once) */
    uint64_t gen;             /* generation of the last snapshot (journal.c) */
    uint64_t snap_bytes;      /* its size */
    int journal_on;           /* a journal follows each snapshot (after start-up's replay) */
    uint32_t *action_ids;     /* the persisted actions, for the state log */
    uint64_t *action_state;
    size_t nactions;
} brk_persist_cfg_t;

typedef struct brk_config {
    brk_listener_cfg_t listeners[BRK_MAX_LISTENERS];
    size_t nlisteners;
    char *config_file;
    char *password_file;
    char *password_file_where; /* "file:line" of the password_file directive */
    int allow_anonymous;  /* -1: default (yes while no password file) */
    int names;            /* MQR_NAMES_DOC or MQR_NAMES_EMQX */
    int verbose;          /* -v; -1: nothing is logged (the fuzz targets) */
    uint32_t log_types;   /* bit (1 << BRK_LOG_*) per level written */
    int log_types_set;    /* a log_type line was read: the default no longer applies */
    char *log_file;       /* log_dest file PATH; NULL: log_dest stderr */
    int log_stdout;       /* log_dest stdout */
    char *pid_file;
    uint32_t action_log_interval_ms; /* summary lines of a failing action */
    int test_connectors;
    brk_str_list_t ban_clientids, ban_usernames, ban_addresses;
    brk_acl_t *acls;
    size_t nacls;
    uint32_t max_connections;    /* 0: unlimited */
    int max_connections_reason;  /* MQR_RC_QUOTA_EXCEEDED or MQR_RC_SERVER_BUSY */
    uint32_t connection_rate;    /* CONNECTs per second; 0: unlimited */
    uint32_t max_clientid_len;
    uint32_t max_packet_size;
    uint32_t max_qos;
    uint32_t retain_available;
    uint32_t max_inflight;
    uint32_t max_queued;
    uint32_t max_sessions;       /* 0: unlimited */
    uint32_t refuse_will;        /* 1: a CONNECT with a will gets 0x83 */
    uint32_t protocols;          /* bit per accepted level (1 << 3 | 1 << 4 | 1 << 5) */
    int sub_refused_v5;          /* SUBACK code for refused v5 subscriptions */
    int redirect_reason;         /* 0, MQR_RC_USE_ANOTHER_SERVER or MQR_RC_SERVER_MOVED */
    char *redirect_server;
    uint32_t v3_session_expiry_s; /* 0: never */
    uint32_t shutdown_flush_ms;
    uint32_t topic_alias_max;    /* Topic-Alias-Maximum the broker accepts (v5); 0: none */
    uint32_t receive_max;        /* Receive-Maximum the broker advertises (v5), 1..65535 */
    uint32_t max_keepalive;      /* seconds; 0: any keep alive (Server-Keep-Alive, v5) */
    char *response_info;         /* Response-Information sent when requested; NULL: none */
    brk_str_list_t ack_user_props; /* ack_user_property KEY VALUE pairs: key, value, ... */
    char *auth_hmac_secret;      /* enables the mqttrule-hmac AUTH method; NULL: off */
    uint32_t connect_timeout_ms;  /* a socket must complete CONNECT within this */
    uint32_t max_queued_bytes;    /* per session: topic + payload + properties; 0: unlimited */
    uint32_t max_topic_levels;    /* of a PUBLISH topic or a topic filter; 0: unlimited */
    uint32_t max_subscriptions;   /* per session; 0: unlimited */
    uint32_t http_max_queue;      /* HTTP action: messages held; 0: the library's 100,000 */
    uint32_t http_timeout_ms;     /* HTTP action: connect and request timeout; 0: 15 s */
    uint32_t busy_poll_us;        /* after a busy round, poll this long before sleeping; 0: off */
    uint32_t tcp_defer_accept;    /* 1: Linux TCP_DEFER_ACCEPT on the listeners (default) */
    uint32_t reason_strings;      /* 0: no broker Reason-String in any packet (strict clients) */
    uint32_t max_cascade_messages; /* messages rules may derive from one client packet */
    uint32_t max_retained_messages; /* 0: unlimited */
    uint32_t max_retained_bytes;  /* topic + payload + properties of all; 0: unlimited */
    uint32_t session_refuse;      /* session_owner_mismatch: 1 refuse, 0 fresh session */
    uint32_t sys_interval;        /* seconds between $SYS updates; 0: off (sys.c) */
    uint32_t admin_port;          /* admin_listener PORT; 0: no admin listener (admin.c) */
    char *admin_addr;             /* admin_listener ADDR (default 127.0.0.1) */
    char *admin_password_file;    /* admin_password_file: HTTP Basic users */
    char *admin_rules_file;       /* admin_rules_file: the API's rule changes, kept */
    brk_rule_cfg_t *rules;
    size_t nrules;
    int rules_from_cli;
    int include_depth;   /* include_dir nesting while the file is read */
    char error[1024];    /* the last error of brk_config_*: "file:line: what is wrong" */
    brk_persist_cfg_t persist;
} brk_config_t;

/* ---- runtime objects ------------------------------------------------------------- */

/* A message being routed: refcounted, one allocation holding all its bytes. */
typedef struct brk_msg {
    uint32_t refs;
    uint8_t qos;
    uint8_t retain;
    uint16_t topic_len;
    uint32_t payload_len;
    uint32_t props_len;   /* v5 properties forwarded to subscribers */
    uint16_t from_cid_len;
    uint16_t from_user_len;
    int64_t received_at;  /* ms since the epoch */
    uint32_t expiry_s;    /* Message-Expiry-Interval when has_expiry */
    uint8_t has_expiry;
    char *topic;
    uint8_t *payload;
    uint8_t *props;
    char *from_clientid;
    char *from_username;  /* NULL: none */
    mqr_sockaddr_t from_peer; /* the publisher's address (message.dropped); none: inside */
    char *cause;          /* a republished message's cause chain (malloc'd; NULL: none) */
    uint32_t cause_len;
    char id[33];          /* message id: 32 hex digits */
} brk_msg_t;

typedef struct brk_sub {
    char *filter;
    uint16_t len;
    uint8_t qos;
    uint8_t no_local;
    uint8_t rap;
    uint8_t reserved_;
    uint16_t share_len;   /* length of the "$share/GROUP/" prefix; 0: not shared */
    uint32_t sub_id;      /* Subscription-Identifier; 0: none */
} brk_sub_t;

typedef struct brk_inflight {
    uint16_t pid;
    uint8_t qos;
    uint8_t state; /* 0: PUBLISH sent, awaiting PUBACK/PUBREC; 1: PUBREL sent */
    uint8_t retain;
    brk_msg_t *msg;
} brk_inflight_t;

typedef struct brk_queued {
    brk_msg_t *msg;
    uint8_t qos;
    uint8_t retain;
} brk_queued_t;

typedef struct brk_conn brk_conn_t;
struct broker;

/*
 * The byte transport under a connection (plain TCP in loop.c, TLS in tls.c):
 * the loop reads and writes a connection's socket only through these.
 * read/write return a byte count (> 0), 0 when the peer closed (read only),
 * BRK_IO_AGAIN when the socket would block, or BRK_IO_ERROR (the transport
 * has logged why when it is not a plain socket error). close, when set,
 * frees the transport's state just before the socket is closed. pending,
 * when set, says how many bytes the transport holds already decrypted.
 */
#define BRK_IO_AGAIN (-2)
#define BRK_IO_ERROR (-1)
typedef struct brk_io {
    const char *name; /* "tcp", "ssl" */
    long (*read)(struct broker *b, brk_conn_t *c, uint8_t *buf, size_t cap);
    long (*write)(struct broker *b, brk_conn_t *c, const uint8_t *buf, size_t len);
    void (*close)(struct broker *b, brk_conn_t *c);
    size_t (*pending)(const brk_conn_t *c);
} brk_io_t;

typedef struct brk_session {
    struct brk_session *hnext; /* hash chain */
    char *clientid;
    uint16_t clientid_len;
    uint16_t next_pid;
    uint32_t expiry_s;         /* 0xFFFFFFFF: never */
    uint32_t route_mark;       /* last routing round that collected it */
    brk_msg_t *will;           /* a delayed will (MQTT 5 Will-Delay-Interval) */
    int64_t will_at;           /* monotonic ms when it is published */
    int64_t expire_at;         /* monotonic ms while offline; 0 while online */
    brk_conn_t *conn;          /* NULL while offline */
    char *username;            /* of the last connection, for events and ACL */
    brk_sub_t *subs;
    uint32_t nsubs, capsubs;
    brk_inflight_t *infl;
    uint32_t ninfl, capinfl;
    brk_queued_t *queue;
    uint32_t nqueue, capqueue;
    uint64_t queue_bytes;      /* bytes of the queued messages (max_queued_bytes) */
    uint16_t *rx2;             /* QoS 2 packet ids received, PUBREL pending */
    uint32_t nrx2, caprx2;
} brk_session_t;

typedef struct brk_watch {
    int kind; /* BRK_W_* */
    int fd;
} brk_watch_t;

/* A descriptor the rule engine waits on (its sock_fn told us). Allocated the
 * first time its number is told and kept until the loop is freed, so an
 * event already fetched for a descriptor the engine dropped meanwhile finds
 * BRK_W_ENGINE_OFF, not freed memory. */
typedef struct brk_ewatch {
    brk_watch_t w;
    uint32_t events;          /* MQR_ENGINE_READ / _WRITE */
} brk_ewatch_t;

struct brk_conn {
    brk_watch_t w;           /* first member: epoll data points here */
    struct brk_conn *next, *prev;
    int state;               /* BRK_CS_* */
    uint8_t proto_ver;
    uint8_t want_write;
    uint8_t problem_info;    /* v5 Request-Problem-Information (default 1) */
    uint8_t clean_start;
    uint8_t broken;          /* a write failed: closed at the end of the round */
    uint8_t flush_queued;    /* on b->flushq: bytes to write at the end of the round */
    uint16_t keepalive;
    uint16_t receive_max;    /* the client's Receive-Maximum */
    uint32_t max_out_packet; /* the client's Maximum-Packet-Size; 0: none */
    int64_t last_rx;         /* monotonic ms */
    int64_t connected_at;    /* wall ms */
    mqr_packet_stream_t stream;
    uint8_t *in;             /* pending partial packet; NULL while none */
    size_t in_len, in_cap;
    uint8_t *out;            /* unsent bytes; NULL while none */
    size_t out_len, out_cap;
    struct brk_conn *flush_next; /* b->flushq chain */
    brk_session_t *sess;
    char *username;          /* NULL: none */
    brk_msg_t *will;
    uint32_t will_delay_s;   /* MQTT 5 Will-Delay-Interval */
    mqr_sockaddr_t peer, sock;
    char peername[MQR_ADDR_TEXT_MAX];
    const char *close_reason; /* client.disconnected reason */
    const mqr_packet_t *disconnect; /* the client's DISCONNECT while it closes (disconn_props) */
    uint8_t *conn_props;     /* the CONNECT's properties (v5), for client.ping; NULL: none */
    uint32_t conn_props_len;
    /* MQTT 5 state (mqtt5.c, authn.c) */
    uint16_t alias_max_out;  /* the client's Topic-Alias-Maximum */
    uint16_t nalias_out;     /* aliases assigned so far (1..nalias_out) */
    char **alias_out;        /* topic of each outgoing alias, index alias - 1 */
    char **alias_in;         /* topic of each incoming alias, index alias - 1 */
    uint8_t ka_server;       /* 1: CONNACK carries Server-Keep-Alive */
    uint8_t want_resp_info;  /* Request-Response-Information was 1 */
    uint8_t auth_ok;         /* the enhanced authentication succeeded */
    uint8_t reauth;          /* a re-authentication challenge is outstanding */
    uint32_t alias_in_cap;   /* entries of alias_in */
    const struct brk_authn *authn; /* enhanced authentication method; NULL: none */
    uint8_t *pending_connect; /* encoded CONNECT while AUTH is exchanged */
    size_t pending_len;
    uint8_t nonce[16];       /* the challenge sent in AUTH */
    /* transport (listener.c, tls.c, ws.c): the listener facts event code reads */
    const brk_io_t *io;      /* never NULL: &brk_io_plain unless TLS */
    void *tls;               /* SSL * of a TLS connection; NULL: plain */
    struct brk_ws *ws;       /* WebSocket framing state (ws.c); NULL: raw MQTT */
    char *tls_identity;      /* client certificate CN (use_identity_as_username) */
    uint8_t listener;        /* index into cfg.listeners */
    uint8_t io_wants_write;  /* the transport needs EPOLLOUT to go on (TLS handshake) */
    const char *transport;   /* "tcp", "ssl", "ws" or "wss" (EMQX's listener types) */
};

/* The retained store (retain.c): a topic trie with a hash table of its nodes. */
typedef struct brk_rnode brk_rnode_t;
typedef struct brk_retained {
    brk_rnode_t *root;  /* NULL until the first message */
    brk_rnode_t **tab;
    size_t tab_size, nnodes;
    size_t count;  /* messages */
    size_t bytes;  /* their topics, payloads and properties */
} brk_retained_t;

typedef struct brk_events brk_events_t;

/* Round-robin position of one shared subscription ("$share/GROUP/FILTER"). */
typedef struct brk_share {
    char *key;
    uint32_t next;
} brk_share_t;

/* An enhanced authentication method (the authenticator hook, authn.c):
 * challenge() writes the AUTH data the broker sends first; verify() checks the
 * client's answer, returning 1 when it authenticates. */
struct broker;
typedef struct brk_authn {
    const char *method;
    int (*challenge)(struct broker *b, brk_conn_t *c, uint8_t *out, size_t cap, size_t *len);
    int (*verify)(struct broker *b, brk_conn_t *c, const uint8_t *data, size_t len);
} brk_authn_t;

/* Counters since start-up, logged by brk_stats_log (SIGUSR1 and shutdown).
 * Every message a client publishes is delivered, queued, in flight or
 * counted in one of the drop counters. */
typedef struct brk_stats {
    uint64_t conns_accepted;
    uint64_t connect_timeouts;        /* sockets closed without a complete CONNECT */
    uint64_t refused_max_connections; /* CONNECTs refused by max_connections */
    uint64_t refused_max_sessions;    /* CONNECTs refused by max_sessions */
    uint64_t msgs_received;           /* PUBLISH packets accepted from clients */
    uint64_t delivered;               /* message.delivered */
    uint64_t acked;                   /* message.acked */
    uint64_t dropped_no_subscribers;  /* message.dropped */
    uint64_t dropped_queue_full;      /* delivery.dropped, by reason */
    uint64_t dropped_qos0_offline;
    uint64_t dropped_too_large;
    uint64_t dropped_no_local;
    uint64_t dropped_other;
    uint64_t refused_topic_levels;    /* PUBLISH topics and filters above max_topic_levels */
    uint64_t refused_subscriptions;   /* filters above max_subscriptions */
    uint64_t refused_cascade;         /* republished messages above max_cascade_messages */
    uint64_t refused_retained;        /* retained messages above max_retained_* */
    uint64_t refused_session_owner;   /* CONNECTs for another user's client id (refuse) */
    uint64_t session_owner_fresh;     /* ... given a fresh session instead (fresh) */
    uint64_t accept_paused;           /* times the listeners paused: out of descriptors */
    uint64_t tls_handshakes;          /* TLS handshakes completed */
    uint64_t tls_resumed;             /* of them, resumed sessions */
    uint64_t ws_upgrades;             /* WebSocket upgrades accepted */
    /* transport-layer refusals per reason ("tls.failed.certificate_verify_failed",
     * "ws.refused.404", "http_on_mqtt_listener"): listener.c brk_xport_count */
    struct {
        char key[64];
        uint64_t n;
    } xport_fail[16];
    uint32_t nxport_fail;
} brk_stats_t;

/* A mosquitto_passwd-format file as loaded (auth.c), reread when it changes. */
typedef struct brk_pwfile {
    char **users, **hashes;
    size_t n;
    int ok;                   /* 1: the last read succeeded */
    int64_t mtime;
} brk_pwfile_t;

struct brk_admin;

typedef struct broker {
    brk_config_t cfg;
    int epfd;
    brk_watch_t listeners[BRK_MAX_LISTENERS];
    size_t nlisteners;
    /* a listener's own address when bound to one (not a wildcard): the
     * sockname of every connection it accepts, without a getsockname call */
    mqr_sockaddr_t listener_sock[BRK_MAX_LISTENERS];
    uint8_t listener_sock_known[BRK_MAX_LISTENERS];
    brk_ewatch_t **engine_w;  /* indexed by descriptor number */
    size_t engine_w_cap;
    size_t nengine_w;         /* descriptors the engine waits on now */
    int64_t engine_due_ms;    /* monotonic ms when mqr_engine_process is due; -1: none */
    int loop_up;              /* brk_loop_init done: engine descriptors go to epoll */
    brk_conn_t *conns;        /* live connections */
    brk_conn_t *dead;         /* closed, freed at the end of the round */
    brk_conn_t *flushq;       /* connections with bytes to write at the end of the round */
    int64_t spin_until_us;    /* busy_poll_us: poll without sleeping until then */
    int64_t round_mono_ms;    /* the clocks read once per loop round (brk_now_*); */
    int64_t round_wall_ms;    /* 0 outside the loop: read the clock each time */
    size_t nconns, nconnected;
    brk_session_t **stab;     /* session hash table */
    size_t stab_size, nsessions;
    brk_retained_t retained;
    mqr_topic_index_t *subs;  /* subscription filters -> sessions */
    uint32_t route_gen;
    uint8_t *rbuf;            /* shared read buffer */
    uint8_t *ebuf;            /* encode scratch */
    size_t ebuf_cap;
    double rate_tokens;
    int64_t rate_last;
    uint64_t msg_seq;
    brk_events_t *ev;
    brk_stats_t stats;
    volatile sig_atomic_t *stats_req; /* set by SIGUSR1: log the stats line */
    volatile sig_atomic_t *stop_req;  /* brk_loop_run's stop and reload flags, */
    volatile sig_atomic_t *reload_req; /* seen by busy polling (NULL: none) */
    brk_pwfile_t pw;          /* password_file */
    FILE *logf;               /* log_dest file; NULL: stderr (or stdout) */
    int argc;                 /* the command line, read again by a reload */
    char **argv;
    struct brk_sink *sinks;   /* the sinks' actions (sinks.c) */
    struct brk_admin *admin;  /* $SYS figures and the admin listener (admin.h) */
    brk_share_t *shares;      /* shared subscriptions' round-robin positions */
    size_t nshares, capshares;
    uint32_t cascade_left;    /* max_cascade_messages budget of the current packet */
    uint8_t cascade_noted;    /* the budget's exhaustion was logged for this packet */
    uint8_t cascade_busy;     /* a packet, tick or lost connection is being handled */
    uint8_t accept_off;       /* listeners unwatched: out of descriptors (loop.c) */
    uint32_t accept_episode;  /* pauses since accept() last found the backlog empty */
    int64_t accept_retry_ms;  /* when to watch them again at the latest */
    void *tls_ctx[BRK_MAX_LISTENERS]; /* SSL_CTX * of each TLS listener (tls.c) */
    uint64_t tls_trim_mark;   /* handshakes at the last malloc_trim (tls.c) */
    struct brk_journal *journal; /* persistence: the journal (journal.c); NULL: none */
} broker_t;

/* ---- main.c / loop.c -------------------------------------------------------------- */
int64_t brk_mono_ms(void);
int64_t brk_mono_us(void);
/* The monotonic and wall clocks as of the start of the current loop round:
 * per-packet timestamps (keep-alive, received_at, connected_at) without a
 * clock read per packet. Outside the loop, the clock itself. */
int64_t brk_wall_ms(void);
static inline int64_t brk_now_mono(const broker_t *b)
{
    return b->round_mono_ms != 0 ? b->round_mono_ms : brk_mono_ms();
}

static inline int64_t brk_now_wall(const broker_t *b)
{
    return b->round_wall_ms != 0 ? b->round_wall_ms : brk_wall_ms();
}

void brk_log(broker_t *b, int level, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
int brk_log_type_mask(const char *name, uint32_t *out);
int brk_log_open(broker_t *b);
void brk_log_close(broker_t *b);
void brk_notify(const char *state);
int brk_loop_init(broker_t *b);
int brk_loop_run(broker_t *b, volatile sig_atomic_t *stop, volatile sig_atomic_t *reload);
void brk_loop_free(broker_t *b);
/* The engine's socket-state and timer callbacks (c-ares style): watch fd for
 * `events` (0: stop), and call brk_events_process in `ms` (-1: no timer). */
void brk_loop_engine_sock(broker_t *b, int fd, uint32_t events);
void brk_loop_engine_timer(broker_t *b, int64_t ms);
void brk_reload(broker_t *b);
/* End of a round: write what every connection queued, close the broken
 * ones, free the closed ones. */
void brk_loop_flush(broker_t *b);
void brk_conn_send(broker_t *b, brk_conn_t *c, const uint8_t *data, size_t len);
int brk_conn_send_packet(broker_t *b, brk_conn_t *c, const mqr_packet_t *p);
void brk_conn_close(broker_t *b, brk_conn_t *c, const char *reason);
brk_conn_t *brk_conn_new(broker_t *b, int fd, const struct sockaddr_storage *ss, socklen_t sl,
                         const mqr_sockaddr_t *own);
void brk_conn_feed(broker_t *b, brk_conn_t *c, const uint8_t *buf, size_t len);
void brk_flush_engine(broker_t *b, uint32_t deadline_ms);

/* ---- listener.c: listener options, the transport of a new connection ------------- */
extern const brk_io_t brk_io_plain;
int brk_listener_directive(brk_config_t *cfg, char **w, int n, const char *path,
                           unsigned lineno);
int brk_listeners_check(const brk_config_t *cfg);
void brk_listener_cfg_free(brk_listener_cfg_t *l);
brk_listener_cfg_t brk_listener_cfg_copy(const brk_listener_cfg_t *l);
size_t brk_listeners_reload(broker_t *b, brk_config_t *nc);
int brk_listeners_init(broker_t *b);
void brk_listeners_free(broker_t *b);
void brk_listeners_tick(broker_t *b);
int brk_listener_attach(broker_t *b, brk_conn_t *c, size_t li);
void brk_xport_deliver(broker_t *b, brk_conn_t *c, uint8_t *buf, size_t len);
int brk_xport_connect(broker_t *b, brk_conn_t *c, mqr_packet_t *p);
void brk_xport_count(broker_t *b, const char *prefix, const char *reason);
size_t brk_xport_stats_text(const broker_t *b, char *out, size_t cap);
void brk_conn_send_raw(broker_t *b, brk_conn_t *c, const uint8_t *data, size_t len);
void brk_conn_want_write(broker_t *b, brk_conn_t *c, int on);

/* ---- tls.c (built with OpenSSL: BRK_HAVE_TLS) ------------------------------------- */
int brk_tls_listener_init(broker_t *b, size_t li);
int brk_tls_listener_reload(broker_t *b, size_t li, const brk_listener_cfg_t *nl);
void brk_tls_listener_free(broker_t *b, size_t li);
int brk_tls_conn_start(broker_t *b, brk_conn_t *c, size_t li);
void brk_tls_tick(broker_t *b);

/* ---- ws.c: WebSocket (RFC 6455) framing -------------------------------------------- */
#define BRK_WS_INCOMPLETE (-2)
#define BRK_WS_BAD (-1)
typedef struct brk_ws brk_ws_t;
/* An HTTP upgrade request; the pointers point into the parsed buffer. */
typedef struct brk_ws_req {
    const char *method, *path, *key, *version, *protocols, *origin;
    size_t method_len, path_len, key_len, version_len, protocols_len, origin_len;
    int minor_version;
    uint8_t has_host, upgrade_ws, conn_upgrade;
    uint8_t origins;   /* Origin header lines seen (origin: the first) */
    const char *why; /* BRK_WS_BAD: what is wrong */
} brk_ws_req_t;
/* A client frame's header. */
typedef struct brk_ws_frame {
    uint8_t fin, opcode, masked;
    uint8_t mask[4];
    uint32_t hdr_len;     /* the payload starts here */
    uint64_t payload_len;
    uint16_t close_code;  /* BRK_WS_BAD: the close code to answer */
    const char *why;      /* BRK_WS_BAD: what is wrong */
} brk_ws_frame_t;
long brk_ws_parse_request(const uint8_t *buf, size_t len, brk_ws_req_t *r);
int brk_ws_check_upgrade(const brk_ws_req_t *r, const char *mqtt_path, const char **proto,
                         const char **why);
int brk_ws_check_origin(const brk_ws_req_t *r, const brk_str_list_t *allowed, int allow_absence,
                        const char **why);
long brk_ws_parse_frame(const uint8_t *buf, size_t len, uint64_t max_payload, brk_ws_frame_t *f);
void brk_ws_unmask(uint8_t *p, size_t n, const uint8_t mask[4]);
void brk_ws_accept_key(const char *key, size_t key_len, char out[29]);
int brk_ws_conn_start(broker_t *b, brk_conn_t *c);
void brk_ws_input(broker_t *b, brk_conn_t *c, uint8_t *buf, size_t len);
size_t brk_ws_frame_header(uint8_t *out, int opcode, uint64_t len);
void brk_ws_closing(broker_t *b, brk_conn_t *c);
void brk_ws_conn_free(brk_conn_t *c);
int brk_ws_looks_http(const uint8_t *buf, size_t len);
void brk_ws_refuse_plain_http(broker_t *b, brk_conn_t *c, const uint8_t *buf, size_t len);

/* ---- config.c ----------------------------------------------------------------------- */
void brk_config_defaults(brk_config_t *cfg);
int brk_config_parse_args(brk_config_t *cfg, int argc, char **argv);
int brk_config_load_file(brk_config_t *cfg, const char *path, int rules_too);
void brk_config_finish(brk_config_t *cfg);
void brk_config_free_rules(brk_config_t *cfg);
int brk_config_check(const brk_config_t *cfg, char *err, size_t errcap);
size_t brk_config_reload_changes(struct broker *b, brk_config_t *nc);
int brk_config_check_readable(const char *file, const char *what, const char *where, char *err,
                              size_t errcap);
void brk_config_free(brk_config_t *cfg);
char *brk_strdup(const char *s);
void *brk_xrealloc(void *p, size_t n);

/* ---- persist.c: persistence_location (snapshot of retained messages and
 * sessions; durable action queues) ------------------------------------------------- */
/* One configuration directive: 0 taken, 1 not a persistence directive, -1
 * bad value (printed as path:line). */
int brk_persist_directive(brk_config_t *cfg, char **w, int n, const char *path,
                          unsigned lineno);
void brk_persist_cfg_free(brk_config_t *cfg);
/* Start-up: check the directory, restore the snapshot. 0, or -1 with err. */
int brk_persist_open(broker_t *b, char *err, size_t errcap);
/* Give an action its durable queue (from rules.c). 0, or -1 with err. */
int brk_persist_action(broker_t *b, const char *rule_id, size_t k, uint32_t action_id,
                       const char *type, char *err, size_t errcap);
/* Once a second: the autosave and the queues' state log. */
void brk_persist_tick(broker_t *b, int64_t now);
/* Write the snapshot now. 0 or -1 (logged). */
int brk_persist_save(broker_t *b);
/* Shutdown: the last snapshot. */
void brk_persist_close(broker_t *b);
/* SIGHUP: carry the running persistence state (snapshot generation, timers,
 * the persisted actions) into the new configuration nc; persistence and
 * persistence_location change only at a restart. */
void brk_persist_reload(broker_t *b, brk_config_t *nc);

/* ---- journal.c: the changes since the last snapshot (broker.journal) ---------------- */
/* What a replay found (brk_journal_replay). */
typedef struct brk_jr_replay {
    uint64_t applied, torn, corrupt, unresolved, stale, gaps;
    size_t torn_bytes;   /* bytes cut off at the end */
    uint64_t gen;        /* the journal's generation */
    uint32_t version;    /* a newer format version (the replay returned -1) */
    int bad_header;      /* no valid header: nothing replayed */
    char notes[4][160];  /* the first problems, described */
    size_t nnotes;
} brk_jr_replay_t;
/* Apply the journal data[0..len) (the whole file) over the state the
 * snapshot of generation gen restored. A journal of another generation is
 * ignored. Returns 0, also for torn, corrupt or inapplicable records
 * (counted in *st), or -1 for a newer format version. */
int brk_journal_replay(broker_t *b, const uint8_t *data, size_t len, uint64_t gen,
                       brk_jr_replay_t *st);
/* Start-up: replay persistence_location/broker.journal if it follows the
 * snapshot of generation gen, and log what it found. 0, or -1 with err. */
int brk_journal_load(broker_t *b, uint64_t gen, char *err, size_t errcap);
/* After the snapshot of generation gen: a new, empty journal of it. 0, or
 * -1 (logged; the broker goes on with snapshots alone). */
int brk_journal_start(broker_t *b, uint64_t gen);
/* Write the records buffered so far (before a connection's output), and
 * at the end of a loop round also sync them by persistence_sync. */
void brk_journal_write(broker_t *b);
void brk_journal_round_end(broker_t *b);
/* Whether a snapshot is due for the journal: it is broken and its retry is
 * due, or it has grown past twice the snapshot's size (at least 64 MiB). */
int brk_journal_wants_snapshot(broker_t *b, int64_t now);
void brk_journal_close(broker_t *b);
/* "journal ok generation=N records=N bytes=N syncs=N errors=N" into out. */
size_t brk_journal_stats(const broker_t *b, char *out, size_t cap);
/* The journal's counters (the Prometheus endpoint): 0, or -1 without a journal. */
typedef struct brk_jr_counters {
    int up;                   /* 1: written; 0: off after an error (snapshots alone) */
    uint64_t generation, records, bytes, syncs, errors;
} brk_jr_counters_t;
int brk_journal_counters(const broker_t *b, brk_jr_counters_t *out);
/* The hooks: each change to what the snapshot holds. Sessions with expiry
 * 0 are not journaled; old_expiry is the expiry before the change. */
void brk_jr_retain(broker_t *b, const brk_msg_t *m, int clear);
void brk_jr_sess_open(broker_t *b, const brk_session_t *s, uint32_t old_expiry, int fresh);
void brk_jr_sess_end(broker_t *b, const brk_session_t *s);
void brk_jr_sess_expiry(broker_t *b, const brk_session_t *s, uint32_t old_expiry);
void brk_jr_will(broker_t *b, const brk_session_t *s);
void brk_jr_sub(broker_t *b, const brk_session_t *s, const brk_sub_t *u);
void brk_jr_unsub(broker_t *b, const brk_session_t *s, const char *f, size_t len);
void brk_jr_queued(broker_t *b, const brk_session_t *s, const brk_queued_t *q);
void brk_jr_queue_drop(broker_t *b, const brk_session_t *s);
void brk_jr_inflight(broker_t *b, const brk_session_t *s, const brk_inflight_t *f,
                     int from_queue);
void brk_jr_pubrel_sent(broker_t *b, const brk_session_t *s, uint16_t pid);
void brk_jr_inflight_done(broker_t *b, const brk_session_t *s, uint16_t pid);
void brk_jr_rx2(broker_t *b, const brk_session_t *s, uint16_t pid, int add);

/* ---- auth.c ------------------------------------------------------------------------- */
int brk_auth_check(broker_t *b, const mqr_pkt_connect_t *c, const char **why);
int brk_banned(broker_t *b, const mqr_pkt_connect_t *c, const char *peerhost, const char **why);
int brk_acl_allows(broker_t *b, const char *username, const char *topic, size_t len,
                   uint32_t access);
void brk_auth_free(broker_t *b);
/* Check user/password against the password file `path` loaded into `pf`
 * (reread when it changed). 0 when they match, else the CONNACK reason code
 * with *why. */
int brk_pwfile_check(broker_t *b, brk_pwfile_t *pf, const char *path, const char *user,
                     size_t user_len, const void *pass, size_t pass_len, const char **why);
void brk_pwfile_free(brk_pwfile_t *pf);

/* ---- mqtt.c ------------------------------------------------------------------------- */
void brk_mqtt_packet(broker_t *b, brk_conn_t *c, const mqr_packet_t *p);
void brk_mqtt_decode_error(broker_t *b, brk_conn_t *c, int status, const mqr_diag_t *diag,
                           const uint8_t *buf, size_t len);
void brk_mqtt_conn_lost(broker_t *b, brk_conn_t *c);
void brk_mqtt_tick(broker_t *b, int64_t now);
int brk_mqtt_publish_local(broker_t *b, const char *topic, size_t topic_len, const void *payload,
                           size_t payload_len, int qos, int retain, const mqr_props_t *props,
                           const char *rule_id, int direct_dispatch);
/* A republish action's message with its MQTT 5 properties (NULL: none): the
 * cascade budget, then routed with its cause chain kept for the events about
 * it. MQR_OK or an error status. */
int brk_mqtt_republish(broker_t *b, const mqr_publish_msg_t *msg, const mqr_props_t *props);
/* A client packet, a timer round or a lost connection starts a cascade
 * with a fresh budget, unless one is running (a takeover inside a CONNECT):
 * returns 1 when it started one, to be passed to brk_mqtt_cascade_end. */
int brk_mqtt_cascade_begin(broker_t *b);
void brk_mqtt_cascade_end(broker_t *b, int began);
/* Publish a $SYS message (sys.c): retained, routed, no events. */
int brk_mqtt_publish_sys(broker_t *b, const char *topic, const char *payload);
void brk_mqtt_free(broker_t *b);
void brk_msg_unref(brk_msg_t *m);

/* ---- retain.c: the retained store ------------------------------------------------------ */
/* Whether a retained message of `bytes` (topic + payload + properties) on
 * topic[0..len) fits max_retained_messages and max_retained_bytes (a
 * replacement frees what it replaces). */
int brk_retain_fits(const broker_t *b, const char *topic, size_t len, size_t bytes);
/* Store, replace or (empty payload) clear the retained message of m's topic.
 * 0 done, 1 refused by a cap (nothing changed), -1 out of memory. */
int brk_retain_set(broker_t *b, brk_msg_t *m);
/* Remove m if it is still the retained message of its topic (expired). */
void brk_retain_remove(broker_t *b, const brk_msg_t *m);
/* The retained messages matching filter[0..len), each with one more
 * reference, in a malloc'd array (*out; the caller unrefs and frees it).
 * Returns how many. */
size_t brk_retain_match(broker_t *b, const char *filter, size_t len, brk_msg_t ***out);
/* Every retained message ('$' topics included), as brk_retain_match gives
 * them (persistence). */
size_t brk_retain_all(broker_t *b, brk_msg_t ***out);
void brk_retain_free(broker_t *b);
/* Count and log a retained message refused by a cap (route.c). */
void brk_retain_refused(broker_t *b, const char *topic, size_t len, const char *who);

/* ---- mqtt5.c: topic aliases, subscription identifiers, shared subscriptions,
 * message expiry and the MQTT 5 CONNACK properties -------------------------------- */
int brk5_alias_in(const broker_t *b, brk_conn_t *c, uint32_t alias, const char **topic,
                  size_t *len);
uint16_t brk5_alias_out_find(const brk_conn_t *c, const char *topic, size_t len);
uint16_t brk5_alias_out_free_slot(const brk_conn_t *c);
void brk5_alias_out_commit(brk_conn_t *c, uint16_t alias, const char *topic, size_t len);
void brk5_conn_free(brk_conn_t *c);
int brk5_out_props(const brk_msg_t *m, int64_t now, uint16_t alias, uint8_t *out, size_t cap,
                   size_t *len);
brk_msg_t *brk5_msg_with_subids(const brk_msg_t *m, const uint32_t *ids, size_t n);
int brk5_share_split(const char *f, size_t len, size_t *prefix);
uint32_t brk5_share_next(broker_t *b, const char *key, size_t len);
void brk5_share_free(broker_t *b);
void brk5_connack_props(broker_t *b, brk_conn_t *c, uint8_t *buf, size_t cap, size_t *len);
void brk_prop_int(uint8_t *buf, size_t cap, size_t *len, uint8_t id, uint8_t type, uint32_t v);
void brk_prop_str(uint8_t *buf, size_t cap, size_t *len, uint8_t id, const char *s);
void brk5_send_ack(broker_t *b, brk_conn_t *c, int type, uint16_t pid, int rc, const char *why);
int brk5_send_props(broker_t *b, brk_conn_t *c, mqr_packet_t *p, mqr_props_t *slot,
                    const uint8_t *base, size_t base_len, const char *why, int user);
const char *brk5_disconnect_why(int rc);

/* ---- authn.c: enhanced authentication (AUTH) ---------------------------------------- */
const brk_authn_t *brk_authn_find(broker_t *b, const char *method, size_t len);
int brk_authn_begin(broker_t *b, brk_conn_t *c, const mqr_packet_t *connect);
int brk_authn_step(broker_t *b, brk_conn_t *c, const mqr_packet_t *auth, const char **why);
int brk_authn_reauth(broker_t *b, brk_conn_t *c, const mqr_packet_t *auth);
/* ---- stats.c ------------------------------------------------------------------------- */
void brk_stats_msg(broker_t *b, int event, const char *reason);
void brk_stats_log(broker_t *b);
uint32_t brk_topic_levels(const char *topic, size_t len);

/* ---- actions.c: action types and their factories ----------------------------------
 *
 * Each `action TYPE` block of a rule reaches the factory registered for TYPE
 * in the table of actions.c (`brk_action_types`). Adding a type (the sinks:
 * sqlite, pgsql, kafka) is one table entry plus one factory function in the
 * type's own file:
 *
 *     int brk_action_sqlite(brk_action_ctx_t *ctx, const brk_action_cfg_t *a,
 *                           brk_action_out_t *out);
 *
 * The factory reads a->opts in order (a key may repeat; for a single-valued
 * option the last line wins), refuses an unknown key or a bad value with
 * brk_action_fail (which writes "file:line: action TYPE: what is wrong" into
 * ctx->err and returns -1), then adds the action to ctx->engine for rule
 * ctx->rule_id (mqr_engine_action_add_republish / _http / _callback) and
 * fills *out: the engine's action id, the target the log names (URL, topic,
 * table), and optionally state it owns with the function that frees it
 * (called when the rule is removed or replaced, after the engine action is
 * gone). Returns 0, or -1 with ctx->err set and nothing left to free.
 *
 * Every configuration is built twice: first into a scratch engine with
 * ctx->validate_only 1 (start-up and SIGHUP check the whole file before
 * anything changes; a factory should check files and values but need not
 * connect; its state is freed right after it returns, while the scratch
 * engine, which never runs an action, still exists), then into the running
 * engine. The factory runs on the broker's
 * thread; it may block briefly (the HTTP client resolves its host name).
 */
typedef struct brk_action_ctx {
    broker_t *b;
    mqr_engine_t *engine;    /* the engine to add the action to */
    const char *rule_id;
    const brk_config_t *cfg; /* the configuration being loaded (b->cfg until it is applied) */
    int validate_only;       /* 1: a scratch engine, thrown away after the check */
    const brk_action_cfg_t *action; /* the action being built (brk_action_fail) */
    char *err;               /* out: "file:line: action TYPE: what is wrong" */
    size_t errcap;
} brk_action_ctx_t;

typedef struct brk_action_out {
    uint32_t id;             /* the engine's action id */
    int kind;                /* MQR_ACTION_* of the engine action (HTTP: connector test) */
    char target[256];        /* what the log names: URL, topic, table */
    void *state;             /* the factory's own state; NULL: none */
    void (*free_state)(void *state);
} brk_action_out_t;

typedef int (*brk_action_factory_fn)(brk_action_ctx_t *ctx, const brk_action_cfg_t *a,
                                     brk_action_out_t *out);

typedef struct brk_action_type {
    const char *name;        /* the TYPE of `action TYPE` */
    brk_action_factory_fn make;
} brk_action_type_t;

/* The type registered as `name`, or NULL. */
const brk_action_type_t *brk_action_type_find(const char *name);
/* The registered type names, ", "-separated, for messages. */
const char *brk_action_type_names(void);
/* The built-in factories. */
int brk_action_republish(brk_action_ctx_t *ctx, const brk_action_cfg_t *a, brk_action_out_t *out);
int brk_action_http(brk_action_ctx_t *ctx, const brk_action_cfg_t *a, brk_action_out_t *out);
/* The sinks (sinks.c), each built when its library is. */
int brk_action_sqlite(brk_action_ctx_t *ctx, const brk_action_cfg_t *a, brk_action_out_t *out);
int brk_action_pgsql(brk_action_ctx_t *ctx, const brk_action_cfg_t *a, brk_action_out_t *out);
int brk_action_kafka(brk_action_ctx_t *ctx, const brk_action_cfg_t *a, brk_action_out_t *out);
/* The "sinks TYPE.matched=N ..." stats line (after brk_stats_log's). */
void brk_sinks_log_stats(broker_t *b);

/* Option helpers for factories: 0, or -1 after brk_action_fail. o NULL in
 * brk_action_fail names the `action TYPE` line itself. */
int brk_action_fail(brk_action_ctx_t *ctx, const brk_action_opt_t *o, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
int brk_opt_u32(brk_action_ctx_t *ctx, const brk_action_opt_t *o, uint32_t min, uint32_t max,
                uint32_t *out);
int brk_opt_bool(brk_action_ctx_t *ctx, const brk_action_opt_t *o, uint32_t *out);
/* A duration: NUMBER[ms|s|m|h] (no unit: ms), within min..max ms. */
int brk_opt_duration_ms(brk_action_ctx_t *ctx, const brk_action_opt_t *o, uint32_t min,
                        uint32_t max, uint32_t *out);
/* A size: NUMBER[B|KB|MB|GB] (no unit: bytes, 1 KB = 1024 B), within min..max. */
int brk_opt_bytes(brk_action_ctx_t *ctx, const brk_action_opt_t *o, uint64_t min, uint64_t max,
                  uint64_t *out);
/* A file the broker must be able to read (TLS files, password file). */
int brk_opt_readable(brk_action_ctx_t *ctx, const brk_action_opt_t *o);
/* Shared parsers (config.c): 0 or -1. */
int brk_parse_duration_ms(const char *s, uint64_t *out);
int brk_parse_bytes(const char *s, uint64_t *out);
int brk_parse_bool(const char *s, uint32_t *out);

/* ---- events.c: the seam to the rule engine ----------------------------------------- */
int brk_events_create(broker_t *b, const char **err);
int brk_events_load_rules(broker_t *b, const brk_config_t *cfg, char *err, size_t errcap);
int brk_events_test_connectors(broker_t *b);
int brk_events_add_rule(broker_t *b, const brk_rule_cfg_t *r, int live, char *err, size_t errcap);
/* Remove an API rule and its actions (their pending messages are logged). */
void brk_events_remove_rule(broker_t *b, const char *id);
void brk_events_destroy(broker_t *b);
void brk_ev_connack(broker_t *b, brk_conn_t *c, const mqr_packet_t *connect, int complete,
                    int reason, int connack_sent);
void brk_ev_client(broker_t *b, brk_conn_t *c, int event, const char *reason,
                   const mqr_packet_t *pkt);
void brk_ev_authn(broker_t *b, brk_conn_t *c, const mqr_packet_t *connect, int reason);
void brk_ev_authz(broker_t *b, brk_conn_t *c, const char *topic, size_t len, int publish,
                  int allow);
void brk_ev_sub(broker_t *b, brk_conn_t *c, int event, const mqr_packet_t *pk, const char *filter,
                size_t len, int qos);
void brk_ev_msg(broker_t *b, int event, const brk_msg_t *m, brk_session_t *to, int qos,
                const char *reason, const mqr_packet_t *ack);
void brk_ev_publish(broker_t *b, brk_conn_t *c, const brk_msg_t *m, const char *rule_id,
                    int direct_dispatch);
void brk_events_fd_ready(broker_t *b, int fd, uint32_t events);
void brk_events_process(broker_t *b);
size_t brk_events_pending(broker_t *b);
void brk_events_http_totals(broker_t *b, mqr_action_metrics_t *out);
void brk_events_watch(broker_t *b, int64_t now);
void brk_events_flush_report(broker_t *b, uint32_t waited_ms);

/* ---- sys.c, admin*.c: $SYS and the admin HTTP listener (admin.h) ------------------- */
int brk_loop_listen(broker_t *b, const char *addr, uint16_t port);
void brk_loop_watch(broker_t *b, brk_watch_t *w, int op, int want_write);
int brk_admin_create(broker_t *b);
int brk_admin_listen(broker_t *b);
void brk_admin_destroy(broker_t *b);
void brk_admin_ready(broker_t *b, brk_watch_t *w, int rd, int wr, int err);
void brk_admin_tick(broker_t *b, int64_t now_mono);
size_t brk_admin_watches(broker_t *b, brk_watch_t **out, int *want_write, size_t cap);
void brk_sys_connack(broker_t *b, const brk_conn_t *c, const mqr_packet_t *connect, int reason,
                     int connack_sent);
/* Around a SIGHUP rule reload: take the rules made through the REST API out
 * of the engine, and put them back over the file's (the API wins). */
void brk_admin_rules_before_reload(broker_t *b);
void brk_admin_rules_after_reload(broker_t *b);
/* Start-up: apply the rule changes saved in admin_rules_file. 0, or -1
 * after printing why (file:byte). */
int brk_admin_rules_load(broker_t *b);

#endif /* MQR_BROKER_H */
