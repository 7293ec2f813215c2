/* SPDX-License-Identifier: MIT */
/*
 * event_connack.c - builds the client.connack event (spec §2.3) from a decoded
 * CONNECT, the reason code decided and the connection's addresses.
 *
 * The event is an mqr_value_t object laid out directly in the caller's arena:
 * one members array in schema order (keys are the schema's static names), the
 * two address texts, and conn_props. conn_props takes two passes over the
 * CONNECT properties: the first counts plain and user properties so that
 * every array is allocated once at its final size, the second fills them.
 * "User-Property" keeps the last value of a repeated key (spec §1.4); a small
 * open-addressing index in the arena finds earlier keys in O(1), so a CONNECT
 * packed with user properties costs linear time. Strings from the packet are
 * borrowed, never copied, so the only memory is the arena's.
 */
#include <string.h>

#include "event_int.h"
#include "internal.h"

/* ORDER: fields_client_connack in event.c. */
enum {
    F_EVENT,
    F_REASON_CODE,
    F_CLIENTID,
    F_USERNAME,
    F_PEERNAME,
    F_SOCKNAME,
    F_PROTO_NAME,
    F_PROTO_VER,
    F_KEEPALIVE,
    F_CLEAN_START,
    F_EXPIRY_INTERVAL,
    F_CONNECTED_AT,
    F_CONN_PROPS,
    F_TIMESTAMP,
    F_NODE,
    F_COUNT
};

#define EVENT_NAME "client.connack"
#define KEY_USER_PROPERTY "User-Property"
#define KEY_USER_PROPERTY_PAIRS "User-Property-Pairs"

void mqr_event_connack_init(mqr_connack_input_t *in)
{
    if (!in)
        return;
    memset(in, 0, sizeof *in);
    in->complete = 1;
    in->connack_sent = 1;
    in->names = MQR_NAMES_DOC;
    in->v3_session_expiry_ms = MQR_EVENT_V3_SESSION_EXPIRY_MS;
}

/* A string value borrowing s[0..len), flagged as an atom when `atom`. */
static void set_str(mqr_value_t *v, const char *s, size_t len, int atom)
{
    mqr_value_set_string(v, s, len);
    if (atom)
        v->flags |= MQR_VALF_ATOM;
}

static void set_member(mqr_member_t *m, const char *key, size_t key_len)
{
    memset(m, 0, sizeof *m);
    m->key = key;
    m->key_len = (uint32_t)key_len;
    mqr_value_set_undefined(&m->value);
}

/* Make *v an object of `n` members allocated in the arena (none for n = 0),
 * each to be set by the caller. MQR_OK or MQR_ENOMEM. */
static int new_object(mqr_arena_t *arena, mqr_value_t *v, size_t n)
{
    mqr_member_t *m = n ? mqr_arena_alloc(arena, n * sizeof *m) : NULL;
    if (n && !m)
        return MQR_ENOMEM;
    memset(v, 0, sizeof *v);
    v->type = MQR_VAL_OBJECT;
    v->len = (uint32_t)n;
    v->u.members = m;
    return MQR_OK;
}

/* The text of an address with its port in the arena, or undefined. */
static int set_addr(mqr_arena_t *arena, const mqr_sockaddr_t *addr, mqr_value_t *v)
{
    char text[MQR_ADDR_TEXT_MAX];
    size_t n;
    if (mqr_sockaddr_format(addr, 1, text, sizeof text, &n) != MQR_OK)
        return MQR_OK; /* unknown address: stays undefined */
    char *copy = mqr_arena_alloc(arena, n);
    if (!copy)
        return MQR_ENOMEM;
    memcpy(copy, text, n);
    mqr_value_set_string(v, copy, n);
    return MQR_OK;
}

/* A property's value as an event value: integers as int, strings and binary
 * data as strings borrowing the packet's bytes. */
static void prop_value(const mqr_prop_t *p, mqr_value_t *v)
{
    switch (p->type) {
    case MQR_PROPTYPE_STRING:
        mqr_value_set_string(v, p->str.ptr, p->str.len);
        break;
    case MQR_PROPTYPE_BINARY:
        mqr_value_set_string(v, (const char *)p->bin.ptr, p->bin.len);
        break;
    default:
        mqr_value_set_int(v, (int64_t)p->value);
        break;
    }
}

/* FNV-1a of a key, for the User-Property index. */
static uint32_t key_hash(const char *s, size_t len)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < len; i++)
        h = (h ^ (uint8_t)s[i]) * 16777619u;
    return h;
}

/*
 * Put key -> *val into the User-Property object `obj` (capacity already
 * allocated): a repeated key replaces the earlier value in place (the last
 * pair wins, spec §1.4). `index` has `slots` entries (a power of two, more
 * than the pairs), each 0 or 1 + a member position.
 */
static void user_prop_put(mqr_value_t *obj, uint32_t *index, uint32_t slots, const mqr_str_t *key,
                          const mqr_value_t *val)
{
    uint32_t at = key_hash(key->ptr, key->len) & (slots - 1);
    for (;; at = (at + 1) & (slots - 1)) {
        uint32_t slot = index[at];
        if (slot == 0)
            break;
        mqr_member_t *m = &obj->u.members[slot - 1];
        if (m->key_len == key->len && memcmp(m->key, key->ptr, key->len) == 0) {
            m->value = *val;
            return;
        }
    }
    mqr_member_t *m = &obj->u.members[obj->len];
    set_member(m, key->ptr, key->len);
    m->value = *val;
    index[at] = ++obj->len;
}

/* A {"key": k, "value": v} object for User-Property-Pairs, members from `m`. */
static void set_pair(mqr_value_t *out, mqr_member_t *m, const mqr_prop_t *p)
{
    memset(out, 0, sizeof *out);
    out->type = MQR_VAL_OBJECT;
    out->len = 2;
    out->u.members = m;
    set_member(&m[0], "key", 3);
    mqr_value_set_string(&m[0].value, p->str.ptr, p->str.len);
    set_member(&m[1], "value", 5);
    mqr_value_set_string(&m[1].value, p->str2.ptr, p->str2.len);
}

/*
 * A property map of spec §1.4 (event_int.h). Two passes: the first counts
 * plain and user properties so every array is allocated once at its final
 * size, the second fills them.
 */
int mqr__event_props(mqr_arena_t *arena, const mqr_props_t *props, const char *what,
                     mqr_value_t *out, mqr_diag_t *diag)
{
    mqr_packet_iter_t it;
    mqr_prop_t p;
    uint32_t n_plain = 0, n_user = 0;
    if (props && !props->present)
        props = NULL;
    mqr_packet_iter_props(&it, props);
    for (;;) {
        const uint8_t *at = it.pos;
        if (!mqr_packet_prop_next(&it, &p)) {
            /* The iterator stops early (and jumps to the end) at bytes that
             * are no property: the CONNECT was not validated. */
            if (at && at < it.end)
                return mqr__diag_set(diag, MQR_EINVAL, "%s: invalid property at byte %zu",
                                     what, (size_t)(at - props->ptr));
            break;
        }
        if (p.id == MQR_PROP_USER_PROPERTY)
            n_user++;
        else
            n_plain++;
    }

    if (new_object(arena, out, n_plain + 1 + (n_user ? 1 : 0)) != MQR_OK)
        return MQR_ENOMEM;
    mqr_member_t *top = out->u.members;
    mqr_value_t *user = &top[n_plain].value;
    set_member(&top[n_plain], KEY_USER_PROPERTY, sizeof KEY_USER_PROPERTY - 1);
    if (new_object(arena, user, n_user) != MQR_OK)
        return MQR_ENOMEM;
    user->len = 0; /* grows up to n_user as distinct keys arrive */

    mqr_value_t *pairs = NULL;
    mqr_member_t *pair_members = NULL;
    uint32_t *index = NULL, slots = 1;
    if (n_user) {
        set_member(&top[n_plain + 1], KEY_USER_PROPERTY_PAIRS, sizeof KEY_USER_PROPERTY_PAIRS - 1);
        mqr_value_t *arr = &top[n_plain + 1].value;
        while (slots <= n_user * 2u)
            slots <<= 1;
        pairs = mqr_arena_alloc(arena, (size_t)n_user * sizeof *pairs);
        pair_members = mqr_arena_alloc(arena, (size_t)n_user * 2 * sizeof *pair_members);
        index = mqr_arena_alloc(arena, (size_t)slots * sizeof *index);
        if (!pairs || !pair_members || !index)
            return MQR_ENOMEM;
        memset(index, 0, (size_t)slots * sizeof *index);
        memset(arr, 0, sizeof *arr);
        arr->type = MQR_VAL_ARRAY;
        arr->len = n_user;
        arr->u.items = pairs;
    }

    uint32_t plain = 0, pair = 0;
    mqr_packet_iter_props(&it, props);
    while (mqr_packet_prop_next(&it, &p)) {
        if (p.id == MQR_PROP_USER_PROPERTY) {
            mqr_value_t val;
            mqr_value_set_string(&val, p.str2.ptr, p.str2.len);
            user_prop_put(user, index, slots, &p.str, &val);
            set_pair(&pairs[pair], &pair_members[2 * (size_t)pair], &p);
            pair++;
        } else {
            const char *name = mqr_packet_prop_name(p.id);
            set_member(&top[plain], name, strlen(name));
            prop_value(&p, &top[plain].value);
            plain++;
        }
    }
    return MQR_OK;
}

/* What the decoder got to in a CONNECT (all 1 when it decoded completely). */
typedef struct known {
    int proto_ver;
    int flags;     /* clean_start and keepalive */
    int props;     /* conn_props and, for v5, expiry_interval */
} known_t;

/* Decision D2: which parts of a partly decoded CONNECT can be trusted. */
static known_t known_parts(const mqr_connack_input_t *in, const mqr_pkt_connect_t *c, int ver)
{
    known_t k = {1, 1, 1};
    if (in->complete)
        return k;
    k.proto_ver = ver != 0;
    if (ver == MQR_PROTO_V5) {
        k.props = c->props.present != 0;
        k.flags = k.props;
    } else {
        k.props = k.proto_ver;
        k.flags = c->clientid.ptr != NULL;
    }
    return k;
}

/* expiry_interval in ms (D10, spec §2.3). */
static int64_t expiry_ms(const mqr_connack_input_t *in, const mqr_packet_t *pkt)
{
    const mqr_pkt_connect_t *c = &pkt->connect;
    if (pkt->proto_ver != MQR_PROTO_V5)
        return c->clean_start ? 0 : in->v3_session_expiry_ms;
    uint32_t s = 0;
    mqr_packet_prop_get_int(&c->props, MQR_PROP_SESSION_EXPIRY_INTERVAL, &s);
    if (in->max_session_expiry_s && s > in->max_session_expiry_s)
        s = in->max_session_expiry_s;
    return (int64_t)s * 1000;
}

/* The fields that come from the CONNECT itself, as far as they were read. */
static int fill_from_connect(const mqr_connack_input_t *in, mqr_arena_t *arena, mqr_member_t *m,
                             mqr_diag_t *diag)
{
    const mqr_packet_t *pkt = in->connect;
    const mqr_pkt_connect_t *c = &pkt->connect;
    int ver = pkt->proto_ver;
    known_t k = known_parts(in, c, ver);

    if (c->clientid.ptr || in->complete)
        mqr_value_set_string(&m[F_CLIENTID].value, c->clientid.ptr ? c->clientid.ptr : "",
                             c->clientid.len);
    if (c->username.ptr)
        mqr_value_set_string(&m[F_USERNAME].value, c->username.ptr, c->username.len);
    if (c->proto_name.ptr)
        mqr_value_set_string(&m[F_PROTO_NAME].value, c->proto_name.ptr, c->proto_name.len);
    if (k.proto_ver)
        mqr_value_set_int(&m[F_PROTO_VER].value, ver);
    if (k.flags) {
        mqr_value_set_int(&m[F_KEEPALIVE].value, c->keepalive);
        mqr_value_set_bool(&m[F_CLEAN_START].value, c->clean_start != 0);
    }
    if (k.props) {
        const mqr_props_t *props = ver == MQR_PROTO_V5 ? &c->props : NULL;
        int st = mqr__event_props(arena, props, EVENT_NAME, &m[F_CONN_PROPS].value, diag);
        if (st == MQR_EINVAL && !in->complete) {
            /* D2: properties that cannot be read leave conn_props and the
             * expiry taken from them undefined. */
            mqr_diag_clear(diag);
            mqr_value_set_undefined(&m[F_CONN_PROPS].value);
            return MQR_OK;
        }
        if (st != MQR_OK)
            return st;
    }
    if (ver == MQR_PROTO_V5 ? k.props : k.flags)
        mqr_value_set_int(&m[F_EXPIRY_INTERVAL].value, expiry_ms(in, pkt));
    return MQR_OK;
}

int mqr_event_connack_build(const mqr_connack_input_t *in, mqr_arena_t *arena,
                            mqr_value_t *out_event, mqr_diag_t *diag)
{
    if (!in || !arena || !out_event)
        return mqr__diag_set(diag, MQR_EINVAL, "client.connack: NULL argument");
    mqr_value_set_undefined(out_event);
    if (in->connect && in->connect->type != MQR_PKT_CONNECT)
        return mqr__diag_set(diag, MQR_EINVAL, "client.connack: packet type %u is not CONNECT",
                             (unsigned)in->connect->type);
    int ver = in->connect ? in->connect->proto_ver : 0;
    const char *reason;
    if (mqr_reason_connack_name(in->names, in->reason_code, ver, in->connack_sent, &reason) !=
        MQR_OK)
        return mqr__diag_set(diag, MQR_EINVAL, "client.connack: unknown naming profile %d",
                             (int)in->names);

    const mqr_event_schema_t *schema = mqr_event_at(MQR_EVENT_CLIENT_CONNACK);
    mqr_value_t ev;
    if (new_object(arena, &ev, F_COUNT) != MQR_OK)
        return mqr__diag_set(diag, MQR_ENOMEM, "client.connack: arena exhausted");
    mqr_member_t *m = ev.u.members;
    for (int i = 0; i < F_COUNT; i++)
        set_member(&m[i], schema->fields[i].name, schema->fields[i].name_len);

    set_str(&m[F_EVENT].value, EVENT_NAME, sizeof EVENT_NAME - 1, 1);
    set_str(&m[F_REASON_CODE].value, reason, strlen(reason), 1);
    int st = set_addr(arena, &in->peer, &m[F_PEERNAME].value);
    if (st == MQR_OK)
        st = set_addr(arena, &in->sock, &m[F_SOCKNAME].value);
    if (st == MQR_OK && in->connect)
        st = fill_from_connect(in, arena, m, diag);
    if (st == MQR_ENOMEM)
        return mqr__diag_set(diag, MQR_ENOMEM, "client.connack: arena exhausted");
    if (st != MQR_OK)
        return st;
    if (in->reason_code == MQR_RC_SUCCESS)
        mqr_value_set_int(&m[F_CONNECTED_AT].value,
                          in->connected_at_ms ? in->connected_at_ms : in->timestamp_ms);
    mqr_value_set_int(&m[F_TIMESTAMP].value, in->timestamp_ms);
    if (in->node)
        set_str(&m[F_NODE].value, in->node, in->node_len, 1);
    *out_event = ev;
    return MQR_OK;
}
