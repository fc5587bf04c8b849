import { deserialize, serialize } from 'node:v8'
import fc from 'fast-check'
import type { Message } from 'kafkajs'
import { describe, expect, it } from 'vitest'
import { avroType, type KafkaSerializer } from './avro-serde.ts'
import { messageChunks, SinkBuffer, type PendingBatch } from './sink-buffer.ts'

interface Row {
  id: number
  text: string
  key: string | null | undefined | number[]
  partition: number | undefined
  header: string | undefined
}

const rowType = avroType({ type: 'record', name: 'Row', fields: [{ name: 'id', type: 'long' }, { name: 'text', type: 'string' }] })
const bodyOf = (r: Row) => rowType.toBuffer({ id: r.id, text: r.text })

/** Serializers of the three kinds the sink meets: a synchronous fast path, plain synchronous, asynchronous. */
function serializers(readyAfter: number): Record<string, KafkaSerializer<Row>> {
  let calls = 0
  return {
    encodeInto: {
      serialize: (r) => bodyOf(r),
      // Not ready for the first `readyAfter` records (an Avro serializer registering its schema).
      encodeInto: (r, _topic, buf, pos) => (calls++ < readyAfter ? undefined : rowType.encode({ id: r.id, text: r.text }, buf, pos)),
    },
    sync: { serialize: (r) => bodyOf(r) },
    async: { serialize: (r) => Promise.resolve(bodyOf(r)) },
  }
}

const rowArb = fc.record({
  id: fc.integer({ min: -1e9, max: 1e9 }),
  text: fc.string({ unit: 'grapheme', maxLength: 300 }),
  key: fc.oneof(fc.string({ unit: 'grapheme', maxLength: 12 }), fc.constant(null), fc.constant(undefined), fc.array(fc.integer({ min: 0, max: 255 }), { maxLength: 8 })),
  partition: fc.option(fc.integer({ min: 0, max: 7 }), { nil: undefined }),
  header: fc.option(fc.string({ maxLength: 5 }), { nil: undefined }),
})

function expected(r: Row): { key: string | null | undefined; value: string; partition: number | undefined; header: string | undefined } {
  const key = r.key === null || r.key === undefined ? r.key : Buffer.from(typeof r.key === 'string' ? r.key : r.key).toString('hex')
  return { key, value: bodyOf(r).toString('hex'), partition: r.partition, header: r.header }
}

function actual(m: Message): ReturnType<typeof expected> {
  const key = m.key === null || m.key === undefined ? m.key : Buffer.from(m.key).toString('hex')
  const h = m.headers?.h
  return { key, value: Buffer.from(m.value as Buffer).toString('hex'), partition: m.partition, header: h === undefined ? undefined : Buffer.from(h as Buffer).toString() }
}

async function sent(batches: PendingBatch[], serializer: KafkaSerializer<Row>, maxRecords: number, maxBytes: number): Promise<Message[][]> {
  const chunks: Message[][] = []
  for (const b of batches) for await (const c of messageChunks(b, serializer, 't', maxRecords, maxBytes)) chunks.push(c)
  return chunks
}

describe('SinkBuffer', () => {
  it('property: what is written comes out as the same messages, in order, also through a checkpoint (v8 serialize), in bounded chunks', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.array(rowArb, { maxLength: 40 }), { maxLength: 4 }),
        fc.constantFrom('encodeInto', 'sync', 'async'),
        fc.integer({ min: 0, max: 30 }),
        fc.integer({ min: 1, max: 16 }),
        fc.integer({ min: 1, max: 2000 }),
        fc.boolean(),
        fc.boolean(),
        async (epochs, kind, readyAfter, maxRecords, maxBytes, throughCheckpoint, partitioned) => {
          const serializer = serializers(readyAfter)[kind]
          const buffer = new SinkBuffer<Row>({
            serializer,
            topic: 't',
            key: (r) => (Array.isArray(r.key) ? Buffer.from(r.key) : (r.key as string | null)),
            ...(partitioned ? { partition: (r: Row) => r.partition ?? 0 } : {}),
            headers: (r) => (r.header === undefined ? {} : { h: r.header }),
          })
          const batches: PendingBatch[] = []
          for (const rows of epochs) {
            for (const r of rows) buffer.write(r)
            expect(buffer.count).toBe(rows.length)
            const b = buffer.take()
            expect(buffer.count).toBe(0)
            if (rows.length === 0) expect(b).toBeUndefined()
            else batches.push(throughCheckpoint ? (deserialize(serialize(b)) as PendingBatch) : b!)
          }
          const chunks = await sent(batches, serializer, maxRecords, maxBytes)
          for (const c of chunks) {
            expect(c.length).toBeGreaterThan(0)
            expect(c.length).toBeLessThanOrEqual(maxRecords)
            const bytes = c.reduce((n, m) => n + (m.value as Buffer).length + (m.key?.length ?? 0), 0)
            if (c.length > 1) expect(bytes - (c.at(-1)!.value as Buffer).length - (c.at(-1)!.key?.length ?? 0)).toBeLessThanOrEqual(maxBytes)
          }
          const got = chunks.flat().map(actual)
          const want = epochs.flat().map((r) => ({ ...expected(r), partition: partitioned ? (r.partition ?? 0) : undefined }))
          expect(got).toEqual(want)
        },
      ),
      { numRuns: 150 },
    )
  })

  it('a synchronous serializer whose result outgrows the buffer is serialized once', () => {
    let calls = 0
    const big = Buffer.alloc(100_000, 7)
    const buffer = new SinkBuffer<number>({ serializer: { serialize: () => (calls++, big) }, topic: 't' })
    buffer.write(1)
    expect(calls).toBe(1)
    const batch = buffer.take()!
    expect(batch.encoded!.bytes.length).toBe(100_000)
  })

  it('a throwing serializer throws from write and keeps nothing', () => {
    const buffer = new SinkBuffer<number>({ serializer: { serialize: () => Buffer.from('x'), encodeInto: () => { throw new Error('bad value') } }, topic: 't' })
    expect(() => buffer.write(1)).toThrow('bad value')
    expect(buffer.count).toBe(0)
  })
})
