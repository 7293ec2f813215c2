/* SPDX-License-Identifier: MIT */
/*
 * connect.c - CONNECT: the fixed chain of checks (protocol level, redirect,
 * connection rate, connection count, authentication method, refused
 * features, client id, bans, password, will, session and its owner); the
 * first that fails
 * decides the reason code, answered with a CONNACK, logged and reported as a
 * client.connack event.
 */
#include <stdlib.h>
#include <string.h>

#include "mqtt_shared.h"

/* ---- CONNECT ---------------------------------------------------------------------------- */

/* Send a CONNACK for MQTT 5 reason `rc`, in the v3 format below level 5. */
void mq_send_connack(broker_t *b, brk_conn_t *c, int rc, int session_present,
                         const char *why, const char *assigned)
{
    uint8_t props[512];
    size_t plen = 0;
    mqr_packet_t p;
    memset(&p, 0, sizeof p);
    p.type = MQR_PKT_CONNACK;
    p.proto_ver = c->proto_ver == MQR_PROTO_V5 ? MQR_PROTO_V5 : MQR_PROTO_V311;
    p.connack.session_present = (uint8_t)(rc == 0 && session_present);
    if (c->proto_ver != MQR_PROTO_V5) {
        p.connack.reason_code = (uint8_t)mqr_reason_connack_v3(rc);
    } else {
        p.connack.reason_code = (uint8_t)rc;
        if (rc == 0) {
            if (!b->cfg.retain_available)
                brk_prop_int(props, sizeof props, &plen, MQR_PROP_RETAIN_AVAILABLE,
                         MQR_PROPTYPE_BYTE, 0);
            if (b->cfg.max_qos < 2)
                brk_prop_int(props, sizeof props, &plen, MQR_PROP_MAXIMUM_QOS, MQR_PROPTYPE_BYTE,
                         b->cfg.max_qos);
            if (b->cfg.max_packet_size != 0)
                brk_prop_int(props, sizeof props, &plen, MQR_PROP_MAXIMUM_PACKET_SIZE,
                         MQR_PROPTYPE_U32, b->cfg.max_packet_size);
            brk5_connack_props(b, c, props, sizeof props, &plen);
            if (assigned != NULL)
                brk_prop_str(props, sizeof props, &plen, MQR_PROP_ASSIGNED_CLIENT_IDENTIFIER,
                         assigned);
        }
        if ((rc == MQR_RC_USE_ANOTHER_SERVER || rc == MQR_RC_SERVER_MOVED) &&
            b->cfg.redirect_server != NULL)
            brk_prop_str(props, sizeof props, &plen, MQR_PROP_SERVER_REFERENCE,
                     b->cfg.redirect_server);
        (void)brk5_send_props(b, c, &p, &p.connack.props, props, plen,
                              rc != 0 && c->problem_info ? why : NULL, 1);
        return;
    }
    (void)brk_conn_send_packet(b, c, &p);
}

void mq_log_refusal(broker_t *b, brk_conn_t *c, const mqr_pkt_connect_t *p, int rc,
                        const char *why)
{
    char user[300] = "(none)";
    if (p != NULL && p->username.ptr != NULL)
        snprintf(user, sizeof user, "'%.*s'", (int)(p->username.len > 256 ? 256 : p->username.len),
                 p->username.ptr);
    int cl = p && p->clientid.ptr ? (int)p->clientid.len : 0;
    brk_log(b, 0, "refused client '%.*s' username %s from %s (MQTT level %u): %s (0x%02X): %s",
            cl, cl ? p->clientid.ptr : "", user, c->peername, (unsigned)c->proto_ver,
            mqr_reason_profile_name(rc, b->cfg.names), (unsigned)rc, why);
}

/* Refuse a decoded CONNECT with reason `rc`: CONNACK, log, event, close. */
static void refuse(broker_t *b, brk_conn_t *c, const mqr_packet_t *p, int rc, const char *why)
{
    mq_send_connack(b, c, rc, 0, why, NULL);
    mq_log_refusal(b, c, &p->connect, rc, why);
    brk_ev_connack(b, c, p, 1, rc, 1);
    brk_conn_close(b, c, NULL);
}

/* The connection rate limit: a token bucket refilled at connection_rate per
 * second, holding at most one second's worth. 1 when a token was taken. */
static int rate_ok(broker_t *b)
{
    if (b->cfg.connection_rate == 0)
        return 1;
    int64_t now = brk_mono_ms();
    double rate = b->cfg.connection_rate;
    b->rate_tokens += (double)(now - b->rate_last) * rate / 1000.0;
    if (b->rate_tokens > rate)
        b->rate_tokens = rate;
    b->rate_last = now;
    if (b->rate_tokens < 1.0)
        return 0;
    b->rate_tokens -= 1.0;
    return 1;
}

/* The checks before authentication. Returns 0 or the reason code, *why set. */
static int precheck(broker_t *b, brk_conn_t *c, const mqr_pkt_connect_t *p, const char **why)
{
    const brk_config_t *cfg = &b->cfg;
    if (!(cfg->protocols & (1u << c->proto_ver))) {
        *why = "this protocol level is switched off";
        return MQR_RC_UNSUPPORTED_PROTOCOL_VERSION;
    }
    if (cfg->redirect_reason != 0) {
        *why = "the broker redirects every client";
        return cfg->redirect_reason;
    }
    if (!c->auth_ok && !rate_ok(b)) { /* a CONNECT resumed after AUTH paid already */
        *why = "connection rate limit reached";
        return MQR_RC_CONNECTION_RATE_EXCEEDED;
    }
    if (cfg->max_connections != 0 && b->nconnected >= cfg->max_connections) {
        b->stats.refused_max_connections++;
        *why = "maximum number of connections reached";
        return cfg->max_connections_reason;
    }
    mqr_str_t am;
    if (c->proto_ver == MQR_PROTO_V5 && !c->auth_ok &&
        mqr_packet_prop_get_str(&p->props, MQR_PROP_AUTHENTICATION_METHOD, &am) == MQR_OK &&
        (c->authn = brk_authn_find(b, am.ptr, am.len)) == NULL) {
        *why = "unknown authentication method";
        return MQR_RC_BAD_AUTHENTICATION_METHOD;
    }
    if (cfg->refuse_will && p->will_flag) {
        *why = "will messages are switched off";
        return MQR_RC_IMPLEMENTATION_SPECIFIC_ERROR;
    }
    if (p->clientid.len == 0 && (!p->clean_start || c->proto_ver == MQR_PROTO_V31)) {
        *why = p->clean_start ? "MQTT 3.1 needs a client id"
                              : "an empty client id needs clean start";
        return MQR_RC_CLIENT_IDENTIFIER_NOT_VALID;
    }
    if (p->clientid.len > cfg->max_clientid_len) {
        *why = "client id too long";
        return MQR_RC_CLIENT_IDENTIFIER_NOT_VALID;
    }
    /* A 3.1/3.1.1 CONNECT cannot be told a Server-Keep-Alive: as mosquitto
     * does, one that asks for more than max_keepalive (or for none) is refused
     * with "identifier rejected", the v3 mapping of 0x85. */
    if (c->proto_ver != MQR_PROTO_V5 && cfg->max_keepalive != 0 &&
        (p->keepalive == 0 || p->keepalive > cfg->max_keepalive)) {
        *why = p->keepalive == 0 ? "keep-alive 0 (none) is above max_keepalive"
                                 : "keep-alive above max_keepalive";
        return MQR_RC_CLIENT_IDENTIFIER_NOT_VALID;
    }
    char host[MQR_ADDR_TEXT_MAX];
    if (mqr_sockaddr_format(&c->peer, 0, host, sizeof host, NULL) != MQR_OK)
        host[0] = 0;
    if (brk_banned(b, p, host, why))
        return MQR_RC_BANNED;
    return 0;
}

/* The will checks. Returns 0 or the reason code, *why set. */
static int will_check(broker_t *b, const mqr_pkt_connect_t *p, const char *user, const char **why)
{
    if (!p->will_flag)
        return 0;
    if (p->will_qos > b->cfg.max_qos) {
        *why = "will QoS above the broker's maximum QoS";
        return MQR_RC_QOS_NOT_SUPPORTED;
    }
    if (p->will_retain && !b->cfg.retain_available) {
        *why = "retained messages are switched off";
        return MQR_RC_RETAIN_NOT_SUPPORTED;
    }
    if (p->will_topic.len > 0 && p->will_topic.ptr[0] == '$') {
        *why = "will topics may not start with '$'";
        return MQR_RC_TOPIC_NAME_INVALID;
    }
    if (!brk_acl_allows(b, user, p->will_topic.ptr, p->will_topic.len, BRK_ACC_WRITE)) {
        *why = "the ACL does not allow publishing to the will topic";
        return MQR_RC_NOT_AUTHORIZED;
    }
    return 0;
}

/* Whether user names a and b (NULL: none) are the same user. */
static int same_user(const char *a, const char *b)
{
    return a == NULL ? b == NULL : b != NULL && strcmp(a, b) == 0;
}

/*
 * A session belongs to the user that created it. A CONNECT from another
 * user name (or none) for its client id never takes it over, never resumes
 * it and never kicks its live connection: with session_owner_mismatch
 * refuse (the default) the CONNECT is refused; with fresh an offline
 * session is discarded and the client starts a new one, while a live one is
 * refused all the same. Returns 0 to go on (*s may now be NULL), or the
 * reason code with *why set.
 */
static int owner_check(broker_t *b, brk_conn_t *c, brk_session_t **s, const char *user,
                       const char **why)
{
    brk_session_t *old = *s;
    if (old == NULL || same_user(old->username, user))
        return 0;
    if (b->cfg.session_refuse || old->conn != NULL) {
        b->stats.refused_session_owner++;
        brk_log(b, 0, "client id '%s' from %s (user %s%s%s): the session belongs to %s%s%s%s",
                old->clientid, c->peername, user ? "'" : "", user ? user : "(none)",
                user ? "'" : "", old->username ? "'" : "",
                old->username ? old->username : "(no user)", old->username ? "'" : "",
                old->conn != NULL ? ", connected" : "");
        *why = "the client id belongs to another user's session";
        return MQR_RC_CLIENT_IDENTIFIER_NOT_VALID;
    }
    b->stats.session_owner_fresh++;
    brk_log(b, 0,
            "client id '%s' from %s (user %s): the offline session of %s with %u queued and "
            "%u in-flight message(s) is discarded for a fresh one",
            old->clientid, c->peername, user ? user : "(none)",
            old->username ? old->username : "(no user)", old->nqueue, old->ninfl);
    brk_msg_t *w = old->will; /* the old owner's delayed will ends with the session */
    old->will = NULL;
    brk_msg_unref(w);
    mq_sess_destroy(b, old);
    *s = NULL;
    return 0;
}

/* Take over or create the session of a CONNECT by `user`. Returns the
 * session (and *present) or NULL with *rc and *why set. */
static brk_session_t *open_session(broker_t *b, brk_conn_t *c, const char *id, size_t len,
                                   int clean, const char *user, int *present, int *rc,
                                   const char **why)
{
    brk_session_t *s = mq_sess_find(b, id, len);
    *rc = owner_check(b, c, &s, user, why);
    if (*rc != 0)
        return NULL;
    *rc = MQR_RC_UNSPECIFIED_ERROR;
    if (s != NULL && s->conn != NULL) {
        brk_conn_t *old = s->conn;
        brk_log(b, 1, "client '%s' taken over by %s", s->clientid, c->peername);
        /* detached first, so closing the old connection leaves the session */
        s->conn = NULL;
        old->close_reason = clean ? "discarded" : "takenover";
        mq_disconnect(b, old, MQR_RC_SESSION_TAKEN_OVER, old->close_reason);
    }
    if (s != NULL && clean) {
        mq_sess_clear(b, s);
        s->next_pid = 1;
    }
    *present = s != NULL && !clean;
    if (s == NULL) {
        if (b->cfg.max_sessions != 0 && b->nsessions >= b->cfg.max_sessions) {
            /* EMQX refuses a CONNECT over a session or connection quota with
             * quota_exceeded (0x97; 3.1.1: 3, server unavailable); a client
             * id that already has a session does not count */
            b->stats.refused_max_sessions++;
            *rc = MQR_RC_QUOTA_EXCEEDED;
            *why = "session table full (max_sessions)";
            return NULL;
        }
        s = mq_sess_create(b, id, len);
        if (s == NULL) {
            *why = "out of memory creating the session";
            return NULL;
        }
    }
    return s;
}

/* Resend what was in flight (DUP set) and start the queue after a resume.
 * A message the session's user may no longer read (the ACL changed) is
 * dropped instead, as mq_drain does with the queue. */
static void resume(broker_t *b, brk_session_t *s)
{
    uint32_t kept = 0;
    for (uint32_t i = 0; i < s->ninfl; i++) {
        brk_inflight_t *f = &s->infl[i];
        if (f->state == 0 && !mq_may_read(b, s, f->msg, f->qos)) {
            brk_jr_inflight_done(b, s, f->pid);
            brk_msg_unref(f->msg);
            continue;
        }
        s->infl[kept++] = *f;
        if (f->state == 0)
            (void)mq_send_publish(b, s, f->msg, f->qos, f->retain, f->pid, 1);
        else
            mq_send_simple(b, s->conn, MQR_PKT_PUBREL, f->pid, 0);
    }
    s->ninfl = kept;
    mq_drain(b, s);
}

/* CONNECT: the checks in order (precheck, authentication, will), then the
 * session, client.connected, the CONNACK, client.connack, and the resent
 * and queued messages of a resumed session. */
void mq_handle_connect(broker_t *b, brk_conn_t *c, const mqr_packet_t *pk)
{
    const mqr_pkt_connect_t *p = &pk->connect;
    const char *why = NULL;
    c->proto_ver = pk->proto_ver;
    if (c->proto_ver == MQR_PROTO_V5) {
        uint32_t v;
        if (mqr_packet_prop_get_int(&p->props, MQR_PROP_REQUEST_PROBLEM_INFORMATION, &v) ==
            MQR_OK)
            c->problem_info = (uint8_t)v;
        if (mqr_packet_prop_get_int(&p->props, MQR_PROP_RECEIVE_MAXIMUM, &v) == MQR_OK)
            c->receive_max = (uint16_t)v;
        if (mqr_packet_prop_get_int(&p->props, MQR_PROP_MAXIMUM_PACKET_SIZE, &v) == MQR_OK)
            c->max_out_packet = v;
        if (mqr_packet_prop_get_int(&p->props, MQR_PROP_TOPIC_ALIAS_MAXIMUM, &v) == MQR_OK)
            c->alias_max_out = (uint16_t)(v < 64 ? v : 64);
        if (mqr_packet_prop_get_int(&p->props, MQR_PROP_REQUEST_RESPONSE_INFORMATION, &v) ==
            MQR_OK)
            c->want_resp_info = (uint8_t)v;
    }
    int rc = precheck(b, c, p, &why);
    if (rc != 0) {
        refuse(b, c, pk, rc, why);
        return;
    }
    if (c->authn != NULL && !c->auth_ok) { /* AUTH exchange first, then resumed */
        if (brk_authn_begin(b, c, pk) != 0)
            refuse(b, c, pk, MQR_RC_UNSPECIFIED_ERROR, "cannot start the authentication");
        return;
    }
    /* a certificate identity (use_identity_as_username) is authenticated */
    rc = c->tls_identity != NULL ? 0 : brk_auth_check(b, p, &why);
    brk_ev_authn(b, c, pk, rc);
    if (rc != 0) {
        refuse(b, c, pk, rc, why);
        return;
    }
    char *user = p->username.ptr ? malloc(p->username.len + 1) : NULL;
    if (user != NULL) {
        memcpy(user, p->username.ptr, p->username.len);
        user[p->username.len] = 0;
    }
    rc = will_check(b, p, user, &why);
    if (rc != 0) {
        free(user);
        refuse(b, c, pk, rc, why);
        return;
    }
    char assigned[40];
    const char *id = p->clientid.ptr;
    size_t idlen = p->clientid.len;
    if (idlen == 0) {
        snprintf(assigned, sizeof assigned, "auto-%016llX",
                 (unsigned long long)(brk_wall_ms() * 1000 + (int64_t)(++b->msg_seq % 1000)));
        id = assigned;
        idlen = strlen(assigned);
    }
    if (p->will_flag) {
        c->will = mq_msg_new(b, p->will_topic.ptr, p->will_topic.len, p->will_payload.ptr,
                          p->will_payload.len, p->will_qos, p->will_retain, &p->will_props, id,
                          idlen, user);
        if (c->will != NULL)
            c->will->from_peer = c->peer;
        if (c->will == NULL) {
            free(user);
            refuse(b, c, pk, MQR_RC_UNSPECIFIED_ERROR, "out of memory storing the will");
            return;
        }
        if (c->proto_ver == MQR_PROTO_V5)
            (void)mqr_packet_prop_get_int(&p->will_props, MQR_PROP_WILL_DELAY_INTERVAL,
                                          &c->will_delay_s);
    }
    int present = 0;
    brk_session_t *s = open_session(b, c, id, idlen, p->clean_start, user, &present, &rc, &why);
    if (s == NULL) {
        free(user);
        refuse(b, c, pk, rc, why);
        return;
    }
    uint32_t expiry = 0;
    if (c->proto_ver == MQR_PROTO_V5)
        (void)mqr_packet_prop_get_int(&p->props, MQR_PROP_SESSION_EXPIRY_INTERVAL, &expiry);
    else if (!p->clean_start)
        expiry = b->cfg.v3_session_expiry_s ? b->cfg.v3_session_expiry_s : NEVER_EXPIRE;
    uint32_t old_expiry = s->expiry_s;
    s->expiry_s = expiry;
    s->expire_at = 0;
    s->conn = c;
    if (s->will != NULL) { /* back before the will delay ended: no will */
        brk_msg_unref(s->will);
        s->will = NULL;
    }
    free(s->username);
    s->username = user;
    brk_jr_sess_open(b, s, old_expiry, !present);
    c->username = user ? brk_strdup(user) : NULL;
    c->sess = s;
    c->keepalive = p->keepalive;
    if (c->proto_ver == MQR_PROTO_V5 && b->cfg.max_keepalive != 0 &&
        (p->keepalive == 0 || p->keepalive > b->cfg.max_keepalive)) {
        c->keepalive = (uint16_t)b->cfg.max_keepalive; /* told by Server-Keep-Alive */
        c->ka_server = 1;
    }
    c->clean_start = p->clean_start;
    free(c->conn_props);
    c->conn_props = NULL;
    if (p->props.len > 0 && (c->conn_props = malloc(p->props.len)) != NULL) {
        memcpy(c->conn_props, p->props.ptr, p->props.len); /* conn_props of client.ping */
        c->conn_props_len = p->props.len;
    }
    c->state = BRK_CS_CONNECTED;
    c->connected_at = brk_now_wall(b);
    b->nconnected++;
    brk_log(b, 1, "client '%s' connected from %s (MQTT level %u, session %s)", s->clientid,
            c->peername, (unsigned)c->proto_ver, present ? "resumed" : "new");
    brk_ev_client(b, c, MQR_EVENT_CLIENT_CONNECTED, NULL, NULL);
    mq_send_connack(b, c, 0, present, NULL, p->clientid.len == 0 ? id : NULL);
    brk_ev_connack(b, c, pk, 1, 0, 1);
    if (c->state == BRK_CS_CONNECTED && present)
        resume(b, s);
}

/* AUTH from a client whose CONNECT started enhanced authentication: on
 * success the kept CONNECT goes on through mq_handle_connect(); otherwise it is
 * refused (not_authorized, or protocol_error for an AUTH out of turn). */
void mq_auth_continue(broker_t *b, brk_conn_t *c, const mqr_packet_t *auth)
{
    const char *why = "";
    int ok = brk_authn_step(b, c, auth, &why);
    uint8_t *buf = c->pending_connect;
    c->pending_connect = NULL;
    mqr_packet_t pk;
    size_t used = 0;
    mqr_packet_opts_t o = c->stream.opts;
    o.proto_ver = 0;
    if (mqr_packet_decode(buf, c->pending_len, &o, &pk, &used, NULL) != MQR_OK) {
        free(buf);
        brk_conn_close(b, c, NULL);
        return;
    }
    if (brk_xport_connect(b, c, &pk) != 0) { /* the certificate identity again */
        free(buf);
        return;
    }
    if (ok == 1)
        mq_handle_connect(b, c, &pk);
    else
        refuse(b, c, &pk, ok == 0 ? MQR_RC_NOT_AUTHORIZED : MQR_RC_PROTOCOL_ERROR, why);
    free(buf);
}
