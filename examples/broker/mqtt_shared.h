/* SPDX-License-Identifier: MIT */
/*
 * mqtt_shared.h - what the MQTT files of mqttrule-broker (mqtt.c, msg.c,
 * session.c, send.c, route.c, connect.c, publish.c, subscribe.c) share with
 * each other and with nobody else.
 */
#ifndef MQR_BROKER_MQTT_SHARED_H
#define MQR_BROKER_MQTT_SHARED_H

#include "broker.h"

/* A session expiry that never ends (MQTT 5 0xFFFFFFFF). */
#define NEVER_EXPIRE 0xFFFFFFFFu

void mq_auth_continue(broker_t *b, brk_conn_t *c, const mqr_packet_t *auth);
void mq_deliver(broker_t *b, brk_session_t *s, brk_msg_t *m, int qos, int retain);
void mq_deliver_ids(broker_t *b, brk_session_t *s, brk_msg_t *m, int qos, int retain,
                        const uint32_t *ids, size_t n);
void mq_disconnect(broker_t *b, brk_conn_t *c, int rc, const char *reason);
void mq_drain(broker_t *b, brk_session_t *s);
int mq_may_read(broker_t *b, brk_session_t *s, brk_msg_t *m, int qos);
int mq_grow(void **arr, uint32_t *cap, uint32_t n, size_t elem);
brk_inflight_t *mq_inflight_add(brk_session_t *s, brk_msg_t *m, uint16_t pid, int qos,
                                int retain);
void mq_handle_ack(broker_t *b, brk_conn_t *c, const mqr_packet_t *pk);
void mq_handle_connect(broker_t *b, brk_conn_t *c, const mqr_packet_t *pk);
void mq_handle_publish(broker_t *b, brk_conn_t *c, const mqr_packet_t *pk);
void mq_handle_subscribe(broker_t *b, brk_conn_t *c, const mqr_packet_t *pk);
void mq_handle_unsubscribe(broker_t *b, brk_conn_t *c, const mqr_packet_t *pk);
int mq_is_events_topic(const char *t, size_t len);
void mq_log_refusal(broker_t *b, brk_conn_t *c, const mqr_pkt_connect_t *p, int rc,
                        const char *why);
brk_msg_t *mq_msg_new(broker_t *b, const char *topic, size_t tlen, const void *payload,
                          size_t plen, int qos, int retain, const mqr_props_t *props,
                          const char *cid, size_t cid_len, const char *user);
size_t mq_publish_msg(broker_t *b, brk_conn_t *from, brk_msg_t *m, const char *rule_id,
                          int direct);
void mq_send_connack(broker_t *b, brk_conn_t *c, int rc, int session_present,
                         const char *why, const char *assigned);
int mq_send_publish(broker_t *b, brk_session_t *s, brk_msg_t *m, int qos, int retain,
                        uint16_t pid, int dup);
void mq_send_simple(broker_t *b, brk_conn_t *c, int type, uint16_t pid, int rc);
void mq_sess_clear(broker_t *b, brk_session_t *s);
brk_session_t *mq_sess_create(broker_t *b, const char *id, size_t len);
void mq_sess_destroy(broker_t *b, brk_session_t *s);
brk_session_t *mq_sess_find(broker_t *b, const char *id, size_t len);
int mq_sub_put(broker_t *b, brk_session_t *s, const char *filter, size_t len, int qos,
               int no_local, int rap, size_t share_len, uint32_t sub_id);
int mq_sub_remove(broker_t *b, brk_session_t *s, const char *f, size_t len);

#endif
