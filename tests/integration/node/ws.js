// SPDX-License-Identifier: MIT
// MQTT.js over WebSocket against mqttrule-broker: connect to URL (ws:// or
// wss://, the CA in $MQR_CA, an Origin header from $MQR_WS_ORIGIN), subscribe, publish at QoS 0, 1 and 2, and see
// the client.connack event of its own connection on client_connack. Usage:
//   node ws.js URL
// Prints one JSON object with what was received and exits 0; exits 1 with
// the error on failure or after 10 s.
'use strict';
const fs = require('fs');
const mqtt = require('mqtt');

const url = process.argv[2];
const scheme = url.split(':')[0];
const fail = (e) => { console.error(String(e && e.stack || e)); process.exit(1); };
setTimeout(() => fail('timeout'), 10000);

const opts = { clientId: `js-${scheme}`, reconnectPeriod: 0, connectTimeout: 5000 };
if (process.env.MQR_CA) opts.ca = fs.readFileSync(process.env.MQR_CA);
if (process.env.MQR_WS_ORIGIN) opts.wsOptions = { origin: process.env.MQR_WS_ORIGIN };
const got = { messages: [], connack: null };
const c = mqtt.connect(url, opts);
c.on('error', fail);
c.on('message', (topic, payload, packet) => {
  if (topic === 'client_connack') {
    const ev = JSON.parse(payload.toString());
    if (ev.clientid === `js-${scheme}-2`) got.connack = ev;
  } else {
    got.messages.push({ topic, payload: payload.toString(), qos: packet.qos });
  }
  if (got.messages.length === 3 && got.connack) {
    got.messages.sort((a, b) => a.qos - b.qos);
    console.log(JSON.stringify(got));
    c.end(false, () => process.exit(0));
  }
});
c.on('connect', () => {
  c.subscribe(['js/#', 'client_connack'], { qos: 2 }, (err) => {
    if (err) fail(err);
    for (const qos of [0, 1, 2]) c.publish(`js/q${qos}`, `m${qos}`, { qos }, (e) => { if (e) fail(e); });
    const second = mqtt.connect(url, Object.assign({}, opts, { clientId: `js-${scheme}-2` }));
    second.on('error', fail);
    second.on('connect', () => second.end());
  });
});
