/* SPDX-License-Identifier: MIT */
/*
 * mqttrule.h - the whole public API of mqttrule: an embeddable MQTT codec,
 * event builder and EMQX-compatible rule engine. Include this one header; the
 * module headers under mqttrule/ are documented one by one.
 */
#ifndef MQTTRULE_H
#define MQTTRULE_H

#include "mqttrule/common.h"
/* MQR-MODULE-HEADERS: one line per module, kept in dependency order. */
#include "mqttrule/packet.h"
#include "mqttrule/value.h"
#include "mqttrule/json.h"
#include "mqttrule/packet_json.h"
#include "mqttrule/reason.h"
#include "mqttrule/event.h"
#include "mqttrule/template.h"
#include "mqttrule/http.h"
#include "mqttrule/rule.h"
#include "mqttrule/rule_test.h"
#include "mqttrule/engine.h"
#include "mqttrule/auth.h"
#include "mqttrule/topic.h"
#include "mqttrule/queue.h"
#include "mqttrule/action.h"
#include "mqttrule/abi.h"

#endif /* MQTTRULE_H */
