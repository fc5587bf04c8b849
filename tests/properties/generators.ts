/**
 * fast-check arbitraries for the property tests: event streams with disorder, watermark
 * strategies, and engine settings (parallelism 1..8, batch size).
 */
import fc from 'fast-check'
import { maxDisorder, type Ev, type WmSpec } from './reference.ts'

export const KEYS = ['a', 'b', 'c', 'd', 'e'] as const

/** Time unit of one generated scenario: window sizes, gaps and disorder scale with it. */
export const unitArb = fc.constantFrom(1, 1, 1, 2, 10, 100, 700)

export interface StreamOpts {
  unit: number
  maxEvents?: number
  /** how many distinct keys to draw from (1..5) */
  keys?: number
  /** id offset, so two streams of one test have disjoint ids */
  idBase?: number
}

/**
 * A stream in arrival order. Timestamps follow a random walk (steps 0..4 units) plus a jitter of up
 * to `disorder` units, so records arrive out of order by a bounded, random amount; sometimes a
 * few records are moved far back (stragglers) or the whole stream is shuffled.
 */
export function eventsArb(opts: StreamOpts): fc.Arbitrary<Ev[]> {
  const { unit, maxEvents = 40, keys = 5, idBase = 0 } = opts
  const keyArb = fc.constantFrom(...KEYS.slice(0, keys))
  return fc
    .record({
      disorder: fc.integer({ min: 0, max: 40 }),
      shuffle: fc.constantFrom('none', 'none', 'none', 'stragglers', 'full'),
      raw: fc.array(
        fc.record({
          key: keyArb,
          step: fc.integer({ min: 0, max: 4 }),
          jitter: fc.integer({ min: 0, max: 1000 }),
          v: fc.integer({ min: -50, max: 100 }),
          straggle: fc.integer({ min: 0, max: 40 }),
        }),
        { maxLength: maxEvents, size: 'max' },
      ),
      seed: fc.integer({ min: 0, max: 1 << 30 }),
    })
    .map(({ disorder, shuffle, raw, seed }) => {
      let t = 0
      const evs = raw.map((r, i) => {
        t += r.step * unit
        let ts = t - Math.floor((r.jitter / 1000) * disorder * unit)
        if (shuffle === 'stragglers' && r.straggle > 30) ts -= r.straggle * unit
        return { key: r.key, ts: Math.max(0, ts), v: r.v, id: idBase + i }
      })
      if (shuffle === 'full') {
        // deterministic Fisher-Yates from the seed
        let s = seed
        for (let i = evs.length - 1; i > 0; i--) {
          s = (s * 1103515245 + 12345) & 0x7fffffff
          const j = s % (i + 1)
          ;[evs[i], evs[j]] = [evs[j]!, evs[i]!]
        }
      }
      return evs
    })
}

export interface EnvSettings {
  parallelism: number
  batchSize: number
}

export const envArb: fc.Arbitrary<EnvSettings> = fc.record({
  parallelism: fc.integer({ min: 1, max: 8 }),
  batchSize: fc.oneof(fc.integer({ min: 1, max: 5 }), fc.integer({ min: 6, max: 64 })),
})

/** Watermark strategy; `periodic` uses the env batch size as its emission interval. */
export function wmSpecArb(unit: number, batchSize: number): fc.Arbitrary<WmSpec> {
  const bound = fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 8 }).map((b) => b * unit), fc.integer({ min: 0, max: 8 * unit }))
  return fc.oneof(
    bound.map((b): WmSpec => ({ kind: 'punctuated', bound: b })),
    bound.map((b): WmSpec => ({ kind: 'periodic', bound: b, batchSize })),
  )
}

/** Allowed lateness: 0 half of the time. */
export function latenessArb(unit: number): fc.Arbitrary<number> {
  return fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 20 * unit }))
}

/** A window length of 1..maxUnits units, or an odd number of milliseconds. */
export function lengthArb(unit: number, maxUnits: number): fc.Arbitrary<number> {
  return fc.oneof(fc.integer({ min: 1, max: maxUnits }).map((n) => n * unit), fc.integer({ min: 1, max: maxUnits * unit }))
}

export interface WindowScenario<X> {
  unit: number
  env: EnvSettings
  wm: WmSpec
  events: Ev[]
  lateness: number
  /** assigner parameters (size, slide, gap ...) drawn for this unit */
  params: X
}

/**
 * Events + env + watermark strategy + allowed lateness + assigner parameters, all built around
 * one time unit.
 */
export function windowScenarioArb<X>(params: (unit: number) => fc.Arbitrary<X>, maxEvents = 40): fc.Arbitrary<WindowScenario<X>> {
  return fc.tuple(unitArb, envArb).chain(([unit, env]) =>
    fc.record({
      unit: fc.constant(unit),
      env: fc.constant(env),
      wm: wmSpecArb(unit, env.batchSize),
      events: eventsArb({ unit, maxEvents }),
      lateness: latenessArb(unit),
      params: params(unit),
    }),
  )
}

export interface JoinScenario<X> {
  unit: number
  env: EnvSettings
  left: Ev[]
  right: Ev[]
  /** watermark strategies with bounds >= each side's own disorder: no record is ever late */
  leftWm: WmSpec
  rightWm: WmSpec
  params: X
}

/** A watermark spec whose bound covers the stream's own disorder (plus a random margin). */
function noLateWmArb(events: Ev[], unit: number, batchSize: number): fc.Arbitrary<WmSpec> {
  const base = maxDisorder(events.map((e) => e.ts))
  return fc.tuple(fc.boolean(), fc.integer({ min: 0, max: 5 * unit })).map(
    ([punct, extra]): WmSpec =>
      punct ? { kind: 'punctuated', bound: base + extra } : { kind: 'periodic', bound: base + extra, batchSize },
  )
}

/** Two keyed streams (ids 0.. and 10000..) for joins, with no late records. */
export function joinScenarioArb<X>(params: (unit: number) => fc.Arbitrary<X>, maxEvents = 30): fc.Arbitrary<JoinScenario<X>> {
  return fc
    .tuple(unitArb, envArb)
    .chain(([unit, env]) =>
      fc.record({
        unit: fc.constant(unit),
        env: fc.constant(env),
        left: eventsArb({ unit, maxEvents, keys: 3 }),
        right: eventsArb({ unit, maxEvents, keys: 3, idBase: 10_000 }),
        params: params(unit),
      }),
    )
    .chain((s) =>
      fc.record({
        unit: fc.constant(s.unit),
        env: fc.constant(s.env),
        left: fc.constant(s.left),
        right: fc.constant(s.right),
        leftWm: noLateWmArb(s.left, s.unit, s.env.batchSize),
        rightWm: noLateWmArb(s.right, s.unit, s.env.batchSize),
        params: fc.constant(s.params),
      }),
    )
}
