// SPDX-License-Identifier: MIT
// MQTT.js against mqttrule-broker: connect, subscribe, publish at QoS 0, 1
// and 2, receive a retained message and a will. Usage:
//   node client.js PORT PROTOCOL_VERSION
// Prints one JSON object with what was received and exits 0; exits 1 with
// the error on failure or after 10 s.
'use strict';
const mqtt = require('mqtt');

const port = Number(process.argv[2]);
const version = Number(process.argv[3] || 4);
const url = `mqtt://127.0.0.1:${port}`;
const opts = (id, extra) => Object.assign({ clientId: id, protocolVersion: version,
                                            reconnectPeriod: 0, connectTimeout: 5000 }, extra);
const fail = (e) => { console.error(String(e && e.stack || e)); process.exit(1); };
setTimeout(() => fail('timeout'), 10000);

const got = { messages: [], retained: null, will: null };
const retainer = mqtt.connect(url, opts(`js-ret-${version}`));
retainer.on('error', fail);
retainer.on('connect', () => {
  retainer.publish(`js${version}/retained`, 'kept', { qos: 1, retain: true }, (err) => {
    if (err) fail(err);
    retainer.end(false, () => main());
  });
});

function main() {
  const c = mqtt.connect(url, opts(`js-main-${version}`));
  c.on('error', fail);
  c.on('message', (topic, payload, packet) => {
    if (topic === `js${version}/retained`) {
      got.retained = { payload: payload.toString(), retain: packet.retain };
    } else if (topic === `js${version}/will`) {
      got.will = payload.toString();
    } else if (topic.startsWith(`js${version}/q`)) {
      got.messages.push({ topic, payload: payload.toString(), qos: packet.qos });
    }
    if (got.messages.length === 3 && got.retained && got.will) {
      got.messages.sort((a, b) => a.qos - b.qos);
      console.log(JSON.stringify(got));
      c.end(false, () => process.exit(0));
    }
  });
  c.on('connect', () => {
    c.subscribe([`js${version}/#`], { qos: 2 }, (err, granted) => {
      if (err) fail(err);
      if (granted[0].qos !== 2) fail('granted ' + JSON.stringify(granted));
      for (const qos of [0, 1, 2]) {
        c.publish(`js${version}/q${qos}`, `m${qos}`, { qos }, (e) => { if (e) fail(e); });
      }
      const dying = mqtt.connect(url, opts(`js-will-${version}`, {
        will: { topic: `js${version}/will`, payload: Buffer.from('bye'), qos: 1, retain: false } }));
      dying.on('error', fail);
      dying.on('connect', () => dying.stream.destroy()); // no DISCONNECT: the will goes out
    });
  });
}
