/**
 * Contract: Avro state and state schema evolution. Values written with schema v1 are snapshotted
 * (full and incremental) and read back through a descriptor with v2 (a field removed, fields
 * added with defaults, int promoted to long); entries of both schemas then live side by side and
 * are read with v3; incompatible changes fail the registration with FLX_STATE_INCOMPATIBLE naming
 * the state and the field; random records of a schema with records, arrays, maps, unions, enums
 * and nulls round-trip through snapshot and restore.
 */
import avro from 'avsc'
import fc from 'fast-check'
import { deserialize, serialize } from 'node:v8'
import { describe, expect, it } from 'vitest'
import { FluxionError } from '../../engine/errors.ts'
import { ManualClock } from '../../engine/time.ts'
import {
  AggregatingStateDescriptor,
  ListStateDescriptor,
  MapStateDescriptor,
  ReducingStateDescriptor,
  ValueStateDescriptor,
  type AggregateFunction,
  type AvroSchema,
} from '../api.ts'
import type { KeyedStateBackend, KeyedStateSnapshot } from '../backend.ts'
import { compactSnapshots } from '../compaction.ts'
import { avroValueArb } from './avro-arbitrary.ts'
import type { Backends } from './backend-contract.ts'
import { expectPlainData } from './contract-model.ts'

/** What the property test expects of one (key, namespace). */
interface Slot {
  value: unknown
  list: unknown[]
  map: Map<string, unknown>
}

const runs = (backends: Backends, n: number) => ({ numRuns: Math.max(5, Math.round(n * (backends.factory.runs ?? 1))) })

/** The Parsing Canonical Form JSON that snapshots carry for a schema. */
export const canonicalOf = (schema: object | string): string => JSON.stringify(avro.Type.forSchema((typeof schema === 'string' ? JSON.parse(schema) : schema) as Parameters<typeof avro.Type.forSchema>[0]).schema())

const USER_V1 = {
  type: 'record',
  name: 'User',
  namespace: 'fluxion.test',
  fields: [
    { name: 'id', type: 'long' },
    { name: 'name', type: 'string' },
    { name: 'age', type: 'int' },
    { name: 'visits', type: 'int' },
  ],
}
/** v1 without `age`, with `email` and `tags` (defaults), `visits` promoted to long. */
const USER_V2 = {
  type: 'record',
  name: 'User',
  namespace: 'fluxion.test',
  fields: [
    { name: 'id', type: 'long' },
    { name: 'name', type: 'string' },
    { name: 'visits', type: 'long' },
    { name: 'email', type: ['null', 'string'], default: null },
    { name: 'tags', type: { type: 'array', items: 'string' }, default: [] },
  ],
}
/** v2 with `country` (default), as JSON text. */
const USER_V3 = JSON.stringify({ ...USER_V2, fields: [...USER_V2.fields, { name: 'country', type: 'string', default: 'unknown' }] })

const ACC_V1 = { type: 'record', name: 'Acc', fields: [{ name: 'count', type: 'int' }, { name: 'total', type: 'long' }] }
const ACC_V2 = { type: 'record', name: 'Acc', fields: [{ name: 'count', type: 'long' }, { name: 'total', type: 'double' }, { name: 'last', type: ['null', 'long'], default: null }] }

interface User {
  id: number
  name: string
  visits: number
  age?: number
  email?: string | null
  tags?: string[]
  country?: string
}
interface Acc {
  count: number
  total: number
  last?: number | null
}

const sumVisits: AggregateFunction<User, Acc, number> = {
  createAccumulator: () => ({ count: 0, total: 0 }),
  add: (u, acc) => ({ count: acc.count + 1, total: acc.total + u.visits }),
  getResult: (acc) => acc.total,
  merge: (a, b) => ({ count: a.count + b.count, total: a.total + b.total }),
}
const sumVisitsV2: AggregateFunction<User, Acc, number> = { ...sumVisits, add: (u, acc) => ({ count: acc.count + 1, total: acc.total + u.visits, last: u.visits }) }

const TTL = { ttlMs: 3_600_000 }

/** The descriptors of the evolution tests, with the user schema and accumulator schema of a version. */
function descriptors(user: AvroSchema, acc: AvroSchema, fn = sumVisits) {
  return {
    user: new ValueStateDescriptor<User>('user', { avroSchema: user }),
    userTtl: new ValueStateDescriptor<User>('user-ttl', { avroSchema: user, ttl: TTL }),
    history: new ListStateDescriptor<User>('history', { avroSchema: user }),
    friends: new MapStateDescriptor<string, User>('friends', { avroSchema: user }),
    busiest: new ReducingStateDescriptor<User>('busiest', (a, b) => (b.visits > a.visits ? b : a), { avroSchema: user }),
    visits: new AggregatingStateDescriptor<User, Acc, number>('visits', fn, { avroSchema: acc }),
  }
}
type Descriptors = ReturnType<typeof descriptors>

function handles(b: KeyedStateBackend, d: Descriptors) {
  return {
    user: b.getValueState(d.user),
    userTtl: b.getValueState(d.userTtl),
    history: b.getListState(d.history),
    friends: b.getMapState(d.friends),
    busiest: b.getReducingState(d.busiest),
    visits: b.getAggregatingState(d.visits),
  }
}

const v1User = (i: number): User => ({ id: i, name: `user-${i}`, age: 20 + i, visits: i })
/** What a v1 user reads as with v2. */
const asV2 = ({ id, name, visits }: User): User => ({ id, name, visits, email: null, tags: [] })

/** Writes user i (v1) to every state of key `k${i}`. */
function writeV1(b: KeyedStateBackend, h: ReturnType<typeof handles>, i: number): void {
  b.setCurrentKey(`k${i}`)
  const u = v1User(i)
  h.user.update(u)
  h.userTtl.update(u)
  h.history.addAll([u, { ...u, visits: u.visits + 100 }])
  h.friends.put('best', u)
  h.friends.put('other', { ...u, name: 'other' })
  h.busiest.add(u)
  h.busiest.add({ ...u, visits: u.visits + 1 })
  h.visits.add(u)
  h.visits.add(u)
}

/** Reads key k${i} from every state. */
function read(b: KeyedStateBackend, h: ReturnType<typeof handles>, i: number) {
  b.setCurrentKey(`k${i}`)
  return {
    user: h.user.value(),
    userTtl: h.userTtl.value(),
    history: h.history.get(),
    friends: Object.fromEntries(h.friends.entries()),
    busiest: h.busiest.get(),
    visits: h.visits.getInternal(),
  }
}

/** What read() returns for v1 user i, seen through `view`, with the accumulator `acc`. */
function expected(i: number, view: (u: User) => User, acc: Acc) {
  const u = v1User(i)
  return {
    user: view(u),
    userTtl: view(u),
    history: [view(u), view({ ...u, visits: u.visits + 100 })],
    friends: { best: view(u), other: view({ ...u, name: 'other' }) },
    busiest: view({ ...u, visits: u.visits + 1 }),
    visits: acc,
  }
}

function expectIncompatible(f: () => unknown, ...fragments: (string | RegExp)[]): FluxionError {
  let error: unknown
  try {
    f()
  } catch (e) {
    error = e
  }
  expect(error, 'expected FLX_STATE_INCOMPATIBLE').toBeInstanceOf(FluxionError)
  const e = error as FluxionError
  expect(e.code, e.message).toBe('FLX_STATE_INCOMPATIBLE')
  expect(e.domain).toBe('config')
  for (const f of fragments) expect(e.message).toMatch(f)
  return e
}

export function avroContract(name: string, backends: Backends): void {
  describe(`${name}: Avro state and schema evolution`, () => {
    it('stores Avro frames and carries the writer schema in full and incremental snapshots', async () => {
      const b = await backends.create()
      const h = handles(b, descriptors(USER_V1, ACC_V1))
      for (let i = 0; i < 3; i++) writeV1(b, h, i)
      const full = b.snapshot()
      expectPlainData(full)
      for (const s of ['user', 'user-ttl', 'history', 'friends', 'busiest']) {
        expect(full.states[s].avroSchemas, s).toEqual([canonicalOf(USER_V1)])
        for (const row of full.states[s].rows) expect(row[3]![0] & 4, `${s}: FLAG_AVRO`).toBe(4)
      }
      expect(full.states.visits.avroSchemas).toEqual([canonicalOf(ACC_V1)])
      b.setCurrentKey('k1')
      h.user.update({ ...v1User(1), name: 'changed' })
      b.setCurrentKey('k2')
      h.user.clear()
      const delta = b.snapshotIncremental()
      expectPlainData(delta)
      expect(delta.states.user.avroSchemas).toEqual([canonicalOf(USER_V1)])
      expect(delta.states.history?.avroSchemas).toBeUndefined() // no rows
      const r = await backends.restored([full, delta].map((s) => deserialize(serialize(s)) as KeyedStateSnapshot))
      const rh = handles(r, descriptors(USER_V1, ACC_V1))
      expect(read(r, rh, 0)).toEqual(expected(0, (u) => u, { count: 2, total: 0 }))
      expect(read(r, rh, 1).user).toEqual({ ...v1User(1), name: 'changed' })
      expect(read(r, rh, 2).user).toBeUndefined()
    })

    it('restores v1 entries with a v2 descriptor (field removed, fields added with defaults, int → long), from full and incremental snapshots', async () => {
      const b = await backends.create()
      const h = handles(b, descriptors(USER_V1, ACC_V1))
      for (let i = 0; i < 10; i++) writeV1(b, h, i)
      const full = b.snapshot()
      b.setCurrentKey('k1')
      h.user.update({ ...v1User(1), name: 'renamed' })
      h.friends.remove('other')
      b.setCurrentKey('k2')
      for (const s of Object.values(h)) s.clear()
      writeV1(b, h, 10)
      const delta = b.snapshotIncremental()

      for (const chain of [[full, delta], [compactSnapshots([full, delta])]]) {
        const r = await backends.restored(chain, { clock: new ManualClock(1000) })
        const rh = handles(r, descriptors(USER_V2, ACC_V2, sumVisitsV2))
        for (const i of [0, 3, 9, 10]) expect(read(r, rh, i), `k${i}`).toEqual(expected(i, asV2, { count: 2, total: 2 * i, last: null }))
        const k1 = read(r, rh, 1)
        expect(k1.user).toEqual(asV2({ ...v1User(1), name: 'renamed' }))
        expect(k1.friends).toEqual({ best: asV2(v1User(1)) })
        expect(read(r, rh, 2)).toEqual({ user: undefined, userTtl: undefined, history: [], friends: {}, busiest: undefined, visits: undefined })
        // v2 writes on top of restored v1 entries.
        r.setCurrentKey('k3')
        rh.visits.add(v1User(5))
        expect(rh.visits.getInternal()).toEqual({ count: 3, total: 11, last: 5 })
        rh.history.add({ id: 3, name: 'new', visits: 2 ** 40, email: 'a@b', tags: ['x'] })
        expect(rh.history.get().at(-1)).toEqual({ id: 3, name: 'new', visits: 2 ** 40, email: 'a@b', tags: ['x'] })
        await backends.release(r)
      }
      const onlyFull = await backends.restored([full])
      const oh = handles(onlyFull, descriptors(USER_V2, ACC_V2))
      expect(read(onlyFull, oh, 2)).toEqual(expected(2, asV2, { count: 2, total: 4, last: null }))
      expect(read(onlyFull, oh, 10).user).toBeUndefined()
    })

    it('entries of v1 and v2 live side by side after the restore; their snapshots restore with v3, also compacted', async () => {
      const b = await backends.create()
      const h = handles(b, descriptors(USER_V1, ACC_V1))
      for (let i = 0; i < 20; i++) writeV1(b, h, i)
      const r = await backends.restored([b.snapshot()])
      const rh = handles(r, descriptors(USER_V2, ACC_V2, sumVisitsV2))
      // Rewrite some keys with v2 values, leave the others as they were restored (v1 bytes in RocksDB).
      const v2User = (i: number): User => ({ id: i, name: `v2-${i}`, visits: 2 ** 33 + i, email: `u${i}@x`, tags: ['t'] })
      for (let i = 0; i < 20; i += 3) {
        r.setCurrentKey(`k${i}`)
        rh.user.update(v2User(i))
        rh.friends.put('best', v2User(i))
      }
      const full2 = r.snapshot()
      expect(full2.states.user.avroSchemas).toContain(canonicalOf(USER_V2))
      for (const s of Object.values(full2.states)) for (const schema of s.avroSchemas ?? []) expect([canonicalOf(USER_V1), canonicalOf(USER_V2), canonicalOf(ACC_V1), canonicalOf(ACC_V2)]).toContain(schema)
      r.setCurrentKey('k1')
      rh.user.update(v2User(1))
      r.setCurrentKey('k2')
      rh.history.clear()
      const delta2 = r.snapshotIncremental()
      expect(delta2.states.user.avroSchemas).toEqual([canonicalOf(USER_V2)])

      const asV3 = (u: User): User => ({ ...u, country: 'unknown' })
      for (const chain of [[full2, delta2], [compactSnapshots([full2, delta2])]]) {
        const r3 = await backends.restored(chain)
        const h3 = handles(r3, descriptors(USER_V3, ACC_V2))
        for (let i = 0; i < 20; i++) {
          const got = read(r3, h3, i)
          const rewritten = i % 3 === 0 || i === 1
          expect(got.user, `k${i}`).toEqual(asV3(rewritten ? v2User(i) : asV2(v1User(i))))
          expect(got.friends.best, `k${i}`).toEqual(asV3(i % 3 === 0 ? v2User(i) : asV2(v1User(i))))
          expect(got.history, `k${i}`).toEqual(i === 2 ? [] : expected(i, (u) => asV3(asV2(u)), { count: 0, total: 0 }).history)
          expect(got.visits).toEqual({ count: 2, total: 2 * i, last: null })
        }
        // Memory re-encodes registered states with v3; RocksDB keeps the rows it did not rewrite.
        const again = r3.snapshot()
        const userSchemas = [USER_V1, USER_V2, USER_V3].map(canonicalOf)
        expect(again.states.user.avroSchemas!.length).toBeGreaterThan(0)
        for (const schema of again.states.user.avroSchemas!) expect(userSchemas).toContain(schema)
        const r4 = await backends.restored([again])
        expect(read(r4, handles(r4, descriptors(USER_V3, ACC_V2)), 4).user).toEqual(asV3(asV2(v1User(4))))
        await backends.release(r4)
        await backends.release(r3)
      }
    })

    it('fails the registration of an incompatible schema with FLX_STATE_INCOMPATIBLE, naming the state and the field', async () => {
      const b = await backends.create()
      const h = handles(b, descriptors(USER_V1, ACC_V1))
      for (let i = 0; i < 3; i++) writeV1(b, h, i)
      const nested = { type: 'record', name: 'Order', fields: [{ name: 'id', type: 'long' }, { name: 'address', type: { type: 'record', name: 'Address', fields: [{ name: 'zip', type: 'string' }] } }, { name: 'color', type: { type: 'enum', name: 'Color', symbols: ['RED', 'GREEN', 'BLUE'] } }] }
      b.setCurrentKey('k0')
      b.getValueState(new ValueStateDescriptor<unknown>('order', { avroSchema: nested })).update({ id: 1, address: { zip: '8001' }, color: 'BLUE' })
      b.getValueState(new ValueStateDescriptor<number>('plain')).update(1)
      const snap = b.snapshot()

      const withField = (field: object) => ({ ...USER_V1, fields: [...USER_V1.fields, field] })
      const cases: { register: (r: KeyedStateBackend) => unknown; fragments: (string | RegExp)[] }[] = [
        {
          register: (r) => r.getValueState(new ValueStateDescriptor('user', { avroSchema: withField({ name: 'email', type: 'string' }) })),
          fragments: ['state "user"', 'field "email"', /added without a default/, /Give the field a default/],
        },
        {
          register: (r) => r.getListState(new ListStateDescriptor('history', { avroSchema: { ...USER_V1, fields: USER_V1.fields.map((f) => (f.name === 'name' ? { ...f, type: 'int' } : f)) } })),
          fragments: ['state "history"', 'field "name"', /from "string" to "int"/, /Keep the old type/],
        },
        {
          register: (r) => r.getMapState(new MapStateDescriptor('friends', { avroSchema: { ...USER_V1, fields: USER_V1.fields.map((f) => (f.name === 'visits' ? { ...f, type: 'string' } : f)) } })),
          fragments: ['state "friends"', 'field "visits"'],
        },
        {
          register: (r) => r.getAggregatingState(new AggregatingStateDescriptor('visits', sumVisits, { avroSchema: { ...ACC_V1, fields: [{ name: 'count', type: 'int' }, { name: 'total', type: 'int' }] } })),
          fragments: ['state "visits"', 'field "total"', /"long" to "int"/],
        },
        {
          register: (r) => r.getValueState(new ValueStateDescriptor('order', { avroSchema: { ...nested, fields: nested.fields.map((f) => (f.name === 'address' ? { name: 'address', type: { type: 'record', name: 'Address', fields: [{ name: 'zip', type: ['null', 'int'] }] } } : f)) } })),
          fragments: ['state "order"', 'field "address.zip"'],
        },
        {
          register: (r) => r.getValueState(new ValueStateDescriptor('order', { avroSchema: { ...nested, fields: nested.fields.map((f) => (f.name === 'color' ? { name: 'color', type: { type: 'enum', name: 'Color', symbols: ['RED', 'GREEN'] } } : f)) } })),
          fragments: ['state "order"', 'field "color"', /"BLUE"/, /default/],
        },
        {
          register: (r) => r.getValueState(new ValueStateDescriptor('order', { avroSchema: { ...nested, name: 'Purchase' } })),
          fragments: ['state "order"', /aliases/],
        },
        {
          register: (r) => r.getValueState(new ValueStateDescriptor('plain', { avroSchema: 'long' })),
          fragments: ['state "plain"', /written without one/],
        },
      ]
      for (const { register, fragments } of cases) {
        const r = await backends.restored([snap])
        expectIncompatible(() => register(r), ...fragments)
        await backends.release(r)
      }
      // Restoring into a state registered with an incompatible schema fails the restore.
      const registered = await backends.create()
      registered.getValueState(new ValueStateDescriptor('user', { avroSchema: withField({ name: 'email', type: 'string' }) }))
      expectIncompatible(() => registered.restore([snap]), 'state "user"', 'field "email"')
      // A compatible one reads (aliases allow a rename).
      const ok = await backends.restored([snap])
      ok.setCurrentKey('k0')
      expect(ok.getValueState(new ValueStateDescriptor('order', { avroSchema: { ...nested, name: 'Purchase', aliases: ['Order'] } })).value()).toEqual({ id: 1, address: { zip: '8001' }, color: 'BLUE' })
    })

    it('a descriptor without avroSchema reads Avro entries with their writer schema; descriptors of one state must agree on the schema', async () => {
      const b = await backends.create()
      const h = handles(b, descriptors(USER_V1, ACC_V1))
      writeV1(b, h, 0)
      const r = await backends.restored([b.snapshot()])
      const plain = r.getValueState(new ValueStateDescriptor<User>('user'))
      r.setCurrentKey('k0')
      expect(plain.value()).toEqual(v1User(0))
      r.setCurrentKey('k1')
      plain.update({ id: 1, name: 'plain', visits: 1 })
      const again = await backends.restored([r.snapshot()])
      const p2 = again.getValueState(new ValueStateDescriptor<User>('user'))
      again.setCurrentKey('k0')
      expect(p2.value()).toEqual(v1User(0))
      again.setCurrentKey('k1')
      expect(p2.value()).toEqual({ id: 1, name: 'plain', visits: 1 })

      expect(() => b.getValueState(new ValueStateDescriptor('user', { avroSchema: USER_V2 }))).toThrow(/same avroSchema/)
      expect(() => b.getValueState(new ValueStateDescriptor('user'))).toThrow(/same avroSchema/)
      expect(() => b.getValueState(new ValueStateDescriptor('user', { avroSchema: JSON.stringify(USER_V1) }))).not.toThrow() // same schema, as JSON text
    })

    it('names the state and the path of a value that does not match the schema', async () => {
      const b = await backends.create()
      b.setCurrentKey('k')
      b.getValueState(new ValueStateDescriptor<unknown>('user', { avroSchema: USER_V1 })).update({ id: 1, name: 'x', age: 'old', visits: 1 })
      expect(() => b.snapshot()).toThrow(/cannot serialize a value of state "user".*"age"/)
    })

    it('property: random records of a schema with records, arrays, maps, unions, enums and nulls round-trip through full and incremental snapshots, and read with an evolved schema', async () => {
      const arb = avroValueArb(EVENT_V1)
      const ops = fc.array(fc.record({ key: fc.integer({ min: 0, max: 7 }), ns: fc.constantFrom<string | number>('', 1), event: fc.option(arb, { nil: undefined, freq: 6 }) }), { maxLength: 12 })
      await fc.assert(
        fc.asyncProperty(ops, ops, async (before, after) => {
          try {
            const model = new Map<string, Slot>()
            const b = await backends.create()
            const d = eventDescriptors(EVENT_V1)
            const hs = { value: b.getValueState(d.value), list: b.getListState(d.list), map: b.getMapState(d.map) }
            const apply = (batch: typeof before) => {
              for (const [n, { key, ns, event }] of batch.entries()) {
                b.setCurrentKey(key)
                for (const s of Object.values(hs)) s.setCurrentNamespace(ns)
                const id = `${key}|${ns}`
                const m: Slot = model.get(id) ?? { value: undefined, list: [], map: new Map() }
                model.set(id, m)
                if (event === undefined) {
                  for (const s of Object.values(hs)) s.clear()
                  m.value = undefined
                  m.list = []
                  m.map = new Map()
                  continue
                }
                hs.value.update(event)
                hs.list.add(event)
                hs.map.put(`m${n % 3}`, event)
                m.value = event
                m.list.push(event)
                m.map.set(`m${n % 3}`, event)
              }
            }
            apply(before)
            const full = b.snapshot()
            apply(after)
            const delta = b.snapshotIncremental()
            for (const [schema, view] of [
              [EVENT_V1, (e: unknown) => e],
              [EVENT_V2, evolveEvent],
            ] as const) {
              const r = await backends.restored([full, delta].map((s) => deserialize(serialize(s)) as KeyedStateSnapshot))
              const rd = eventDescriptors(schema)
              const rh = { value: r.getValueState(rd.value), list: r.getListState(rd.list), map: r.getMapState(rd.map) }
              for (const [id, m] of model) {
                const [key, ns] = id.split('|')
                r.setCurrentKey(Number(key))
                for (const s of Object.values(rh)) s.setCurrentNamespace(ns === '1' ? 1 : '')
                expect(rh.value.value(), id).toEqual(m.value === undefined ? undefined : view(m.value))
                expect(rh.list.get(), id).toEqual(m.list.map(view))
                expect(new Map(rh.map.entries()), id).toEqual(new Map([...m.map].map(([k, v]) => [k, view(v)])))
              }
              await backends.release(r)
            }
          } finally {
            await backends.releaseAll()
          }
        }),
        runs(backends, 60),
      )
    })
  })
}

/**
 * The property test's schema: records (nested, and in an array), an enum (also referenced by
 * name), arrays, maps, unions with null, bytes, a null field. `evolved`: without `ratio`, with
 * `source` (default) and a `level` (default) in the nested Visitor record.
 */
function eventSchema(evolved: boolean) {
  const visitor = {
    type: 'record',
    name: 'Visitor',
    fields: [
      { name: 'name', type: 'string' },
      { name: 'tags', type: { type: 'array', items: 'string' } },
      { name: 'scores', type: { type: 'map', values: 'double' } },
      ...(evolved ? [{ name: 'level', type: 'int', default: 0 }] : []),
    ],
  }
  const item = {
    type: 'record',
    name: 'Item',
    fields: [
      { name: 'sku', type: 'string' },
      { name: 'qty', type: 'int' },
      { name: 'price', type: ['null', 'float'] },
      { name: 'kind', type: 'Kind' },
    ],
  }
  return {
    type: 'record',
    name: 'Event',
    namespace: 'fluxion.test',
    fields: [
      { name: 'id', type: 'long' },
      { name: 'kind', type: { type: 'enum', name: 'Kind', symbols: ['CLICK', 'VIEW', 'BUY'] } },
      { name: 'user', type: ['null', visitor] },
      { name: 'items', type: { type: 'array', items: item } },
      { name: 'attrs', type: { type: 'map', values: ['null', 'string', 'long', 'boolean'] } },
      { name: 'payload', type: ['null', 'bytes'] },
      ...(evolved ? [] : [{ name: 'ratio', type: 'double' }]),
      { name: 'nothing', type: 'null' },
      ...(evolved ? [{ name: 'source', type: 'string', default: 'unknown' }] : []),
    ],
  }
}
const EVENT_V1 = eventSchema(false)
const EVENT_V2 = eventSchema(true)

function evolveEvent(e: unknown): unknown {
  const { ratio: _ratio, user, ...rest } = e as { ratio: number; user: object | null }
  return { ...rest, user: user === null ? null : { ...user, level: 0 }, source: 'unknown' }
}

function eventDescriptors(schema: object) {
  return {
    value: new ValueStateDescriptor<unknown>('event', { avroSchema: schema }),
    list: new ListStateDescriptor<unknown>('events', { avroSchema: schema }),
    map: new MapStateDescriptor<string, unknown>('by-slot', { avroSchema: schema, ttl: TTL }),
  }
}
