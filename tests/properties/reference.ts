/**
 * Plain reference models for the property tests. Nothing here touches the engine: each model is a
 * simple loop over an array that spells out Flink's semantics (WindowOperator + EventTimeTrigger,
 * MergingWindowSet for sessions, JoinedStreams via CoGroup, IntervalJoinOperator).
 *
 * Conventions (as in Flink and DESIGN.md):
 * - a watermark W means "no more records with timestamp <= W"; the initial watermark is -Infinity
 *   and a bounded input ends with +Infinity;
 * - window [start, end) has maxTimestamp = end - 1;
 * - the window operator sees, for every record, the largest watermark emitted before it (a
 *   single source subtask, so keyBy fan-out does not reorder records and watermarks).
 */

export interface Ev {
  key: string
  ts: number
  v: number
  /** unique per generated stream; lets joins tell pairs apart */
  id: number
}

// ---------------------------------------------------------------------------------------------
// Watermarks
// ---------------------------------------------------------------------------------------------

/**
 * How the test source generates watermarks.
 * - punctuated: a `forGenerator` strategy whose onEvent emits `maxTs - bound - 1` after every record.
 * - periodic: `forBoundedOutOfOrderness(bound)`; the source emits `maxTs - bound - 1` after every
 *   `batchSize` records (after records b-1, 2b-1, ...).
 */
export type WmSpec =
  | { kind: 'punctuated'; bound: number }
  | { kind: 'periodic'; bound: number; batchSize: number }

/**
 * The watermark current at the window operator when record i arrives (the max of all watermarks
 * emitted after records 0..i-1; -Infinity if none).
 */
export function watermarksBefore(tss: readonly number[], spec: WmSpec): number[] {
  const out: number[] = []
  let w = Number.NEGATIVE_INFINITY
  let maxTs = Number.NEGATIVE_INFINITY
  for (let i = 0; i < tss.length; i++) {
    out.push(w)
    maxTs = Math.max(maxTs, tss[i]!)
    const emits = spec.kind === 'punctuated' || (i + 1) % spec.batchSize === 0
    if (emits) w = Math.max(w, maxTs - spec.bound - 1)
  }
  return out
}

/** Largest amount by which a record's timestamp is below the max timestamp seen before it. */
export function maxDisorder(tss: readonly number[]): number {
  let max = Number.NEGATIVE_INFINITY
  let d = 0
  for (const t of tss) {
    if (max - t > d) d = max - t
    max = Math.max(max, t)
  }
  return d
}

// ---------------------------------------------------------------------------------------------
// Window assigners
// ---------------------------------------------------------------------------------------------

export interface Win {
  start: number
  end: number
}

/** TimeWindow.getWindowStartWithOffset. */
export function windowStart(ts: number, size: number, offset = 0): number {
  const rem = (ts - offset) % size
  return rem < 0 ? ts - (rem + size) : ts - rem
}

export function tumblingWindows(size: number, offset = 0): (ts: number) => Win[] {
  return (ts) => {
    const start = windowStart(ts, size, offset)
    return [{ start, end: start + size }]
  }
}

/** SlidingEventTimeWindows.assignWindows: may return no window when size < slide. */
export function slidingWindows(size: number, slide: number, offset = 0): (ts: number) => Win[] {
  return (ts) => {
    const out: Win[] = []
    const lastStart = windowStart(ts, slide, offset)
    for (let start = lastStart; start > ts - size; start -= slide) out.push({ start, end: start + size })
    return out
  }
}

// ---------------------------------------------------------------------------------------------
// Aggregations used by the tests
// ---------------------------------------------------------------------------------------------

export interface Agg<A, R> {
  create(): A
  add(e: Ev, acc: A): A
  merge(a: A, b: A): A
  result(acc: A): R
}

export interface CountSum {
  count: number
  sum: number
}

export const countSumAgg: Agg<CountSum, CountSum> = {
  create: () => ({ count: 0, sum: 0 }),
  add: (e, acc) => ({ count: acc.count + 1, sum: acc.sum + e.v }),
  merge: (a, b) => ({ count: a.count + b.count, sum: a.sum + b.sum }),
  result: (acc) => ({ count: acc.count, sum: acc.sum }),
}

/** The reduce function the tests use; pure, associative and commutative. */
export function reduceEv(a: Ev, b: Ev): Ev {
  return { key: a.key, ts: Math.max(a.ts, b.ts), v: a.v + b.v, id: Math.min(a.id, b.id) }
}

export interface ReduceResult {
  sum: number
  maxTs: number
  minId: number
}

export function reduceResult(r: Ev): ReduceResult {
  return { sum: r.v, maxTs: r.ts, minId: r.id }
}

/** ReducingState seen as an aggregation (the accumulator is the reduced value or null). */
export const reduceAgg: Agg<Ev | null, ReduceResult> = {
  create: () => null,
  add: (e, acc) => (acc === null ? e : reduceEv(acc, e)),
  merge: (a, b) => (a === null ? b : b === null ? a : reduceEv(a, b)),
  result: (acc) => reduceResult(acc!),
}

// ---------------------------------------------------------------------------------------------
// Non-merging windows (tumbling, sliding): Flink WindowOperator + EventTimeTrigger
// ---------------------------------------------------------------------------------------------

export interface Firing<R> {
  key: string
  start: number
  end: number
  result: R
}

export interface WindowModelResult<R> {
  fired: Firing<R>[]
  late: Ev[]
}

/**
 * Every firing of every (key, window), in processing order:
 * - element: for each assigned window, skip it if maxTs + L <= W (late window); otherwise add the
 *   element and, if maxTs <= W (already fired, not yet cleaned), fire again at once. If no window
 *   took the element and ts + L <= W, it goes to the late side output (else it is dropped).
 * - watermark W -> W': fire each window with W < maxTs <= W' (its EventTimeTrigger timer), then
 *   drop the state of windows with maxTs + L <= W' (cleanup timer).
 */
export function modelWindows<A, R>(
  events: readonly Ev[],
  wmBefore: readonly number[],
  assign: (ts: number) => Win[],
  allowedLateness: number,
  agg: Agg<A, R>,
): WindowModelResult<R> {
  const L = allowedLateness
  const fired: Firing<R>[] = []
  const late: Ev[] = []
  const state = new Map<string, { key: string; start: number; end: number; acc: A }>()
  let W = Number.NEGATIVE_INFINITY

  const advance = (next: number) => {
    if (next <= W) return
    for (const s of state.values()) {
      const maxTs = s.end - 1
      if (maxTs > W && maxTs <= next) fired.push({ key: s.key, start: s.start, end: s.end, result: agg.result(s.acc) })
    }
    for (const [id, s] of state) if (s.end - 1 + L <= next) state.delete(id)
    W = next
  }

  events.forEach((e, i) => {
    advance(wmBefore[i]!)
    let taken = false
    for (const w of assign(e.ts)) {
      const maxTs = w.end - 1
      if (maxTs + L <= W) continue
      taken = true
      const id = `${e.key}|${w.start}|${w.end}`
      let s = state.get(id)
      if (!s) {
        s = { key: e.key, start: w.start, end: w.end, acc: agg.create() }
        state.set(id, s)
      }
      s.acc = agg.add(e, s.acc)
      if (maxTs <= W) fired.push({ key: e.key, start: w.start, end: w.end, result: agg.result(s.acc) })
    }
    if (!taken && e.ts + L <= W) late.push(e)
  })
  advance(Number.POSITIVE_INFINITY)
  return { fired, late }
}

// ---------------------------------------------------------------------------------------------
// Session windows: Flink MergingWindowSet + WindowOperator (merging branch) + EventTimeTrigger
// ---------------------------------------------------------------------------------------------

/** TimeWindow.intersects: touching windows ([0,5) and [5,9)) intersect and merge. */
function intersects(a: Win, b: Win): boolean {
  return a.start <= b.end && a.end >= b.start
}

/**
 * - element ts: the new window [ts, ts+gap) merges with every live window of its key that it
 *   intersects (transitively) into their cover; merged accumulators are combined with `merge`.
 *   If the resulting window is late (maxTs + L <= W) the element is dropped: to the late side
 *   output if ts + L <= W. Otherwise the element is added and, if maxTs <= W, the (merged) window
 *   fires at once.
 * - watermark W -> W': fire each live window with W < maxTs <= W', then drop windows with
 *   maxTs + L <= W'.
 */
export function modelSessions<A, R>(
  events: readonly Ev[],
  wmBefore: readonly number[],
  gap: number,
  allowedLateness: number,
  agg: Agg<A, R>,
): WindowModelResult<R> {
  const L = allowedLateness
  const fired: Firing<R>[] = []
  const late: Ev[] = []
  const live = new Map<string, { start: number; end: number; acc: A }[]>()
  let W = Number.NEGATIVE_INFINITY

  const advance = (next: number) => {
    if (next <= W) return
    for (const [key, wins] of live) {
      for (const s of wins) {
        const maxTs = s.end - 1
        if (maxTs > W && maxTs <= next) fired.push({ key, start: s.start, end: s.end, result: agg.result(s.acc) })
      }
      live.set(
        key,
        wins.filter((s) => !(s.end - 1 + L <= next)),
      )
    }
    W = next
  }

  events.forEach((e, i) => {
    advance(wmBefore[i]!)
    const wins = live.get(e.key) ?? []
    const cover: Win = { start: e.ts, end: e.ts + gap }
    let absorbed: typeof wins = []
    let rest = wins
    for (;;) {
      const hit = rest.filter((s) => intersects(s, cover))
      if (hit.length === 0) break
      for (const s of hit) {
        cover.start = Math.min(cover.start, s.start)
        cover.end = Math.max(cover.end, s.end)
      }
      absorbed = absorbed.concat(hit)
      rest = rest.filter((s) => !hit.includes(s))
    }
    const maxTs = cover.end - 1
    if (maxTs + L <= W) {
      // Flink throws if merging produced a late window; that needs a late live window, which the
      // cleanup timers rule out. A model bug if it ever happens.
      if (absorbed.length > 0) throw new Error('model: merged window is late')
      if (e.ts + L <= W) late.push(e)
      return
    }
    let acc = absorbed.length === 0 ? agg.create() : absorbed.map((s) => s.acc).reduce((a, b) => agg.merge(a, b))
    acc = agg.add(e, acc)
    live.set(e.key, [...rest, { start: cover.start, end: cover.end, acc }])
    if (maxTs <= W) fired.push({ key: e.key, start: cover.start, end: cover.end, result: agg.result(acc) })
  })
  advance(Number.POSITIVE_INFINITY)
  return { fired, late }
}

// ---------------------------------------------------------------------------------------------
// Joins (no late data: every pair is emitted exactly once)
// ---------------------------------------------------------------------------------------------

export interface JoinRow {
  key: string
  a: number
  b: number
}

/** Tumbling window join: all pairs with equal key whose timestamps fall in the same window. */
export function modelWindowJoin(as: readonly Ev[], bs: readonly Ev[], size: number): JoinRow[] {
  const out: JoinRow[] = []
  for (const x of as)
    for (const y of bs)
      if (x.key === y.key && windowStart(x.ts, size) === windowStart(y.ts, size)) out.push({ key: x.key, a: x.id, b: y.id })
  return out
}

/**
 * Window join with any non-merging assigner (Flink: coGroup over a keyed window): a pair is emitted
 * once for every window that holds both records.
 */
export function modelWindowJoinWith(as: readonly Ev[], bs: readonly Ev[], assign: (ts: number) => Win[]): JoinRow[] {
  const out: JoinRow[] = []
  for (const x of as)
    for (const y of bs) {
      if (x.key !== y.key) continue
      const wy = new Set(assign(y.ts).map((w) => w.start))
      for (const w of assign(x.ts)) if (wy.has(w.start)) out.push({ key: x.key, a: x.id, b: y.id })
    }
  return out
}

/** Interval join: all pairs with equal key and left.ts + lo <= right.ts <= left.ts + hi. */
export function modelIntervalJoin(ls: readonly Ev[], rs: readonly Ev[], lo: number, hi: number): JoinRow[] {
  const out: JoinRow[] = []
  for (const l of ls)
    for (const r of rs) if (l.key === r.key && l.ts + lo <= r.ts && r.ts <= l.ts + hi) out.push({ key: l.key, a: l.id, b: r.id })
  return out
}

// ---------------------------------------------------------------------------------------------
// Canonical order
// ---------------------------------------------------------------------------------------------

/** JSON with object keys sorted, so equal values always give equal strings. */
export function canonicalJson(x: unknown): string {
  return JSON.stringify(x, (_k, v: unknown) =>
    v !== null && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : v,
  )
}

/** A multiset in canonical order, for toEqual. */
export function canonical<T>(rows: readonly T[]): T[] {
  return rows
    .map((r) => [canonicalJson(r), r] as const)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([, r]) => r)
}
