// SPDX-License-Identifier: MIT
// MQTT.js (protocol 5) against mqttrule-broker: the MQTT 5 features a client
// library exposes. A subscriber allowing topic aliases subscribes twice with
// Subscription-Identifiers; a publisher sends with an alias and every
// pass-through property; a shared-subscription pair and a response topic
// request complete the run. Usage:
//   node mqtt5.js PORT
// Prints one JSON object with what was received and exits 0; exits 1 with
// the error on failure or after 10 s.
'use strict';
const mqtt = require('mqtt');

const port = Number(process.argv[2]);
const url = `mqtt://127.0.0.1:${port}`;
const opts = (id, extra) => Object.assign({ clientId: id, protocolVersion: 5,
                                            reconnectPeriod: 0, connectTimeout: 5000 }, extra);
const fail = (e) => { console.error(String(e && e.stack || e)); process.exit(1); };
setTimeout(() => fail('timeout'), 10000);

const got = { connack: null, messages: [], shared: { a: 0, b: 0 } };
const need = 2;

function done() {
  if (got.messages.length === need && got.shared.a + got.shared.b === 4) {
    console.log(JSON.stringify(got));
    process.exit(0);
  }
}

function subscribe(c, filter, options) {
  return new Promise((resolve, reject) =>
    c.subscribe(filter, options, (err, granted) => (err ? reject(err) : resolve(granted))));
}

function connect(id, extra) {
  return new Promise((resolve, reject) => {
    const c = mqtt.connect(url, opts(id, extra));
    c.on('error', reject);
    c.on('connect', (connack) => resolve([c, connack]));
  });
}

async function main() {
  const [sub, connack] = await connect('js5-sub', {
    keepalive: 300, properties: { topicAliasMaximum: 5, requestResponseInformation: true } });
  got.connack = connack.properties || {};
  sub.on('message', (topic, payload, packet) => {
    const p = packet.properties || {};
    got.messages.push({
      topic, payload: payload.toString(), qos: packet.qos,
      subscriptionIdentifier: p.subscriptionIdentifier, userProperties: p.userProperties,
      contentType: p.contentType, responseTopic: p.responseTopic,
      correlationData: p.correlationData ? p.correlationData.toString() : undefined,
      messageExpiryInterval: p.messageExpiryInterval,
      payloadFormatIndicator: p.payloadFormatIndicator, topicAlias: p.topicAlias });
    done();
  });
  await subscribe(sub, 'js5/#', { qos: 0, properties: { subscriptionIdentifier: 1 } });
  await subscribe(sub, 'js5/+/x', { qos: 1, properties: { subscriptionIdentifier: 2 } });
  const members = {};
  for (const name of ['a', 'b']) {
    const [m] = await connect('js5-share-' + name);
    m.on('message', () => { got.shared[name]++; done(); });
    await subscribe(m, '$share/g/js5share/#', { qos: 1 });
    members[name] = m;
  }
  const [pub] = await connect('js5-pub', { properties: { topicAliasMaximum: 0 } });
  const props = {
    topicAlias: 1, userProperties: { b: '2', a: '1' }, contentType: 'text/plain',
    responseTopic: 'js5/reply', correlationData: Buffer.from('corr'),
    messageExpiryInterval: 60, payloadFormatIndicator: true };
  pub.publish('js5/a/x', 'first', { qos: 1, properties: props }, (e) => { if (e) fail(e); });
  // the alias alone: the broker resolves it to js5/a/x
  pub.publish('', 'second', { qos: 1, properties: { topicAlias: 1 } },
              (e) => { if (e) fail(e); });
  for (let i = 0; i < 4; i++)
    pub.publish('js5share/t', String(i), { qos: 1 }, (e) => { if (e) fail(e); });
}

main().catch(fail);
