/**
 * What a native client costs per produced record, for the #4 decision (not run by the tests or CI;
 * node-rdkafka is not a dependency). In a scratch directory (npm 11 does not run its install script
 * unless allowed; the Node headers ship with Node under /usr/include/node):
 *
 *   mkdir /tmp/rdk && cd /tmp/rdk && npm init -y && npm i node-rdkafka@3.6.1
 *   node "$(npm root -g)/npm/node_modules/node-gyp/bin/node-gyp.js" rebuild --nodedir=/usr -C node_modules/node-rdkafka
 *   NODE_PATH=/tmp/rdk/node_modules node bench/kafka/native-producer.cjs <fresh 4-partition topic> [records]
 *
 * The records are those of producer-clients.ts (130-byte values whose first 4 bytes are the index,
 * keys "acct-<i mod 10000>", murmur2 partitioning), idempotent, acks=all, linger 5 ms, one delivery
 * report per record (at-least-once needs them). It prints records/s and CPU µs per record (all
 * threads of the process, librdkafka's included), from the first produce to the last report.
 */

// eslint-disable-next-line @typescript-eslint/no-require-imports -- a CommonJS script for a package that is not a dependency
const Kafka = require('node-rdkafka')
const N = Number(process.argv[3] || 300000)
const topic = process.argv[2]
const p = new Kafka.Producer({ 'metadata.broker.list': '127.0.0.1:19092', 'enable.idempotence': true, 'acks': 'all', 'dr_cb': true, 'linger.ms': 5, 'batch.num.messages': 10000, 'queue.buffering.max.messages': 1000000, 'partitioner': 'murmur2_random' })
p.setPollInterval(10)
p.connect()
p.on('ready', () => {
  const value = Buffer.alloc(130, 7)
  let delivered = 0
  const cpu0 = process.cpuUsage(); const t0 = performance.now()
  p.on('delivery-report', (err) => { if (err) { console.error(err); process.exit(1) } if (++delivered === N) done() })
  let i = 0
  const pump = () => {
    for (let k = 0; k < 5000 && i < N; k++, i++) {
      const v = Buffer.from(value); v.writeUInt32BE(i, 0)
      p.produce(topic, null, v, 'acct-' + (i % 10000))
    }
    if (i < N) setImmediate(pump)
  }
  pump()
  function done() {
    const s = (performance.now() - t0) / 1000; const c = process.cpuUsage(cpu0)
    console.log(JSON.stringify({ client: 'node-rdkafka', records: N, seconds: s.toFixed(2), recordsPerSecond: Math.round(N / s), cpuUsPerRecord: ((c.user + c.system) / N).toFixed(2) }))
    p.disconnect(() => process.exit(0))
  }
})
p.on('event.error', (e) => { console.error('error', e) })
