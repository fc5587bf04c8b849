/**
 * The physical plan: which edges are forward / rebalance / keyHash / broadcast, which carry side
 * outputs, which operators are chained into one task (forward edge, equal parallelism, one input,
 * as in Flink), and that the running job matches the plan.
 */
import { describe, expect, it } from 'vitest'
import { OutputTag, StreamExecutionEnvironment, type ProcessFunction, type Sink } from '../../index.ts'

interface PlanEdge {
  from: number
  partitioning: string
  input: number
  tag?: string
  chained: boolean
}
interface PlanVertex {
  id: number
  name: string
  parallelism: number
  chain: number
  inputs: PlanEdge[]
}

function plan(env: StreamExecutionEnvironment): PlanVertex[] {
  const parsed = JSON.parse(env.getExecutionPlan('plan-test')) as { name: string; vertices: PlanVertex[] }
  expect(parsed.name).toBe('plan-test')
  return parsed.vertices
}

function byName(vertices: readonly PlanVertex[], name: string): PlanVertex {
  const found = vertices.filter((v) => v.name === name)
  expect(found, `exactly one vertex named ${name}`).toHaveLength(1)
  return found[0]
}

/** A sink that counts what each subtask receives. */
function countingSink<T>(name: string, counts: Map<number, T[]>): Sink<T> {
  return {
    name,
    createWriter: (ctx) => {
      const mine: T[] = []
      counts.set(ctx.subtaskIndex, mine)
      return { write: (v) => void mine.push(v) }
    },
  }
}

const discard = <T>(name = 'discard'): Sink<T> => ({ name, createWriter: () => ({ write() {} }) })

describe('job graph: chaining and partitioning', () => {
  it('chains forward edges of equal parallelism into one task per subtask', async () => {
    const env = StreamExecutionEnvironment.create({ parallelism: 3 })
    env
      .fromGenerator((i) => i, { count: 3000, name: 'gen' })
      .map((x) => x * 2, 'double')
      .filter((x) => x % 3 !== 0, 'no-threes')
      .sinkTo(discard(), 'out')
    const vs = plan(env)
    expect(vs.map((v) => v.name)).toEqual(['gen', 'double', 'no-threes', 'out'])
    const gen = byName(vs, 'gen')
    for (const v of vs) {
      expect(v.parallelism).toBe(3)
      expect(v.chain).toBe(gen.id)
    }
    for (const v of vs.slice(1)) expect(v.inputs).toEqual([{ from: vs[vs.indexOf(v) - 1].id, partitioning: 'forward', input: 0, chained: true }])

    const result = await env.execute()
    expect(result.tasks.map((t) => [t.name, t.subtask])).toEqual([
      ['gen -> double -> no-threes -> out', 0],
      ['gen -> double -> no-threes -> out', 1],
      ['gen -> double -> no-threes -> out', 2],
    ])
    expect(result.tasks.reduce((n, t) => n + t.recordsOut, 0)).toBe(3000)
    // A chained task has no input channels, so nothing is ever queued.
    for (const t of result.tasks) expect(t.peakQueuedRecords).toBe(0)
  })

  it('uses rebalance (round robin) where parallelism changes, and chains again after it', async () => {
    const env = StreamExecutionEnvironment.create({ parallelism: 3 })
    const counts = new Map<number, number[]>()
    env
      .fromCollection(Array.from({ length: 999 }, (_, i) => i))
      .map((x) => x + 1, 'inc')
      .sinkTo(countingSink('count', counts))
    const vs = plan(env)
    const src = byName(vs, 'collection-source')
    const inc = byName(vs, 'inc')
    const sink = byName(vs, 'count')
    expect(src.parallelism).toBe(1)
    expect(inc.parallelism).toBe(3)
    expect(inc.inputs).toEqual([{ from: src.id, partitioning: 'rebalance', input: 0, chained: false }])
    expect(inc.chain).toBe(inc.id)
    expect(sink.inputs).toEqual([{ from: inc.id, partitioning: 'forward', input: 0, chained: true }])
    expect(sink.chain).toBe(inc.id)

    const result = await env.execute()
    expect(result.tasks.map((t) => t.name)).toEqual(['collection-source', 'inc -> count', 'inc -> count', 'inc -> count'])
    // round robin: each of the three subtasks gets exactly a third
    expect([...counts.keys()].sort()).toEqual([0, 1, 2])
    for (const got of counts.values()) expect(got).toHaveLength(333)
    expect([...counts.values()].flat().sort((a, b) => a - b)).toEqual(Array.from({ length: 999 }, (_, i) => i + 1))
  })

  it('an explicit rebalance() is never chained, even at equal parallelism', () => {
    const env = StreamExecutionEnvironment.create({ parallelism: 2 })
    env.fromGenerator((i) => i, { count: 10, name: 'gen' }).rebalance().map((x) => x, 'm').sinkTo(discard())
    const vs = plan(env)
    const m = byName(vs, 'm')
    expect(m.inputs).toEqual([{ from: byName(vs, 'gen').id, partitioning: 'rebalance', input: 0, chained: false }])
    expect(m.chain).toBe(m.id)
  })

  it('keyBy makes a keyHash edge (never chained) and every key lands on exactly one subtask', async () => {
    const env = StreamExecutionEnvironment.create({ parallelism: 4 })
    const seen: { key: string; subtask: number }[] = []
    env
      .fromGenerator((i) => ({ k: `key-${i % 37}`, i }), { count: 2000, name: 'gen' })
      .keyBy((e) => e.k)
      .process(
        {
          subtask: -1,
          open(ctx) {
            this.subtask = ctx.subtaskIndex
          },
          processElement(e, _ctx, out) {
            out.collect({ key: e.k, subtask: this.subtask })
          },
        } as ProcessFunction<{ k: string; i: number }, { key: string; subtask: number }> & { subtask: number },
        'where',
      )
      .sinkTo({ name: 'seen', createWriter: () => ({ write: (v) => void seen.push(v) }) })
    const vs = plan(env)
    const where = byName(vs, 'where')
    expect(where.inputs).toEqual([{ from: byName(vs, 'gen').id, partitioning: 'keyHash', input: 0, chained: false }])
    expect(byName(vs, 'seen').chain).toBe(where.id)

    const result = await env.execute()
    expect(seen).toHaveLength(2000)
    const subtaskOf = new Map<string, Set<number>>()
    for (const { key, subtask } of seen) subtaskOf.set(key, (subtaskOf.get(key) ?? new Set()).add(subtask))
    expect(subtaskOf.size).toBe(37)
    for (const [key, subtasks] of subtaskOf) expect([...subtasks], key).toHaveLength(1)
    // 37 keys over 4 subtasks: the work is spread (more than one subtask gets keys)
    expect(new Set(seen.map((s) => s.subtask)).size).toBeGreaterThan(1)
    const keyed = result.tasks.filter((t) => t.name === 'where -> seen')
    expect(keyed).toHaveLength(4)
    expect(keyed.reduce((n, t) => n + t.recordsIn, 0)).toBe(2000)
  })

  it('a side output is its own edge, tagged, and carries only the side records', async () => {
    const env = StreamExecutionEnvironment.create({ parallelism: 2 })
    const odd = new OutputTag<number>('odd')
    const main = env
      .fromGenerator((i) => i, { count: 100, name: 'gen' })
      .process<number>(
        {
          sideOutputs: [odd],
          processElement(x, ctx, out) {
            if (x % 2 === 1) ctx.output(odd, x)
            else out.collect(x)
          },
        },
        'split',
      )
    const mainRows: number[] = []
    const sideRows: number[] = []
    main.sinkTo({ name: 'main-sink', createWriter: () => ({ write: (v) => void mainRows.push(v) }) })
    main
      .getSideOutput(odd)
      .map((x) => -x, 'negate')
      .sinkTo({ name: 'side-sink', createWriter: () => ({ write: (v) => void sideRows.push(v) }) })
    const vs = plan(env)
    const split = byName(vs, 'split')
    const negate = byName(vs, 'negate')
    expect(negate.inputs).toHaveLength(1)
    expect(negate.inputs[0]).toMatchObject({ from: split.id, partitioning: 'forward', input: 0, tag: 'odd' })
    const mainEdge = byName(vs, 'main-sink').inputs[0]
    expect(mainEdge).toMatchObject({ from: split.id, partitioning: 'forward', chained: true })
    expect(mainEdge.tag).toBeUndefined()

    await env.execute()
    expect(mainRows.sort((a, b) => a - b)).toEqual(Array.from({ length: 50 }, (_, i) => 2 * i))
    expect(sideRows.sort((a, b) => a - b)).toEqual(Array.from({ length: 50 }, (_, i) => -(99 - 2 * i)))
  })

  it('a union feeds one operator from several edges on the same input (not chained)', async () => {
    const env = StreamExecutionEnvironment.create({ parallelism: 2 })
    const a = env.fromCollection([1, 2, 3], undefined, 'a')
    const b = env.fromGenerator((i) => 100 + i, { count: 4, name: 'b' })
    const c = env.fromGenerator((i) => 200 + i, { count: 2, name: 'c' })
    const merged = a.union(b, c).map((x) => x, 'merged')
    const out = env.executeAndCollect(merged)
    // plan: taken from a fresh env with the same shape, because executeAndCollect consumed this one
    const env2 = StreamExecutionEnvironment.create({ parallelism: 2 })
    env2
      .fromCollection([1], undefined, 'a')
      .union(env2.fromGenerator((i) => i, { count: 1, name: 'b' }))
      .map((x) => x, 'merged')
      .sinkTo(discard())
    const vs = plan(env2)
    const m = byName(vs, 'merged')
    expect(m.inputs).toEqual([
      { from: byName(vs, 'a').id, partitioning: 'rebalance', input: 0, chained: false },
      { from: byName(vs, 'b').id, partitioning: 'forward', input: 0, chained: false },
    ])
    expect(m.chain).toBe(m.id)
    expect((await out)[0].sort((x, y) => x - y)).toEqual([1, 2, 3, 100, 101, 102, 103, 200, 201])
  })

  it('broadcast() sends every record to every subtask', async () => {
    const env = StreamExecutionEnvironment.create({ parallelism: 3 })
    const counts = new Map<number, number[]>()
    env.fromCollection([1, 2, 3, 4]).broadcast().map((x) => x * 10, 'b').sinkTo(countingSink('count', counts))
    expect(byName(plan(env), 'b').inputs[0].partitioning).toBe('broadcast')
    await env.execute()
    expect([...counts.keys()].sort()).toEqual([0, 1, 2])
    for (const got of counts.values()) expect(got).toEqual([10, 20, 30, 40])
  })

  it('an operator with two forward consumers chains both (fan-out inside one task)', async () => {
    const env = StreamExecutionEnvironment.create({ parallelism: 2 })
    const src = env.fromGenerator((i) => i, { count: 10, name: 'gen' })
    const left: number[] = []
    const right: number[] = []
    src.map((x) => x + 1000, 'left').sinkTo({ name: 'l', createWriter: () => ({ write: (v) => void left.push(v) }) })
    src.map((x) => x + 2000, 'right').sinkTo({ name: 'r', createWriter: () => ({ write: (v) => void right.push(v) }) })
    const vs = plan(env)
    const gen = byName(vs, 'gen')
    for (const name of ['left', 'right', 'l', 'r']) expect(byName(vs, name).chain).toBe(gen.id)
    const result = await env.execute()
    expect(result.tasks).toHaveLength(2) // one chain, two subtasks
    expect(left.sort((a, b) => a - b)).toEqual(Array.from({ length: 10 }, (_, i) => 1000 + i))
    expect(right.sort((a, b) => a - b)).toEqual(Array.from({ length: 10 }, (_, i) => 2000 + i))
  })

  it('only what a sink reaches is in the plan', () => {
    const env = StreamExecutionEnvironment.create()
    const src = env.fromCollection([1, 2], undefined, 'src')
    src.map((x) => x, 'dangling')
    src.map((x) => x, 'used').sinkTo(discard())
    const names = plan(env).map((v) => v.name)
    expect(names).toEqual(['src', 'used', 'discard'])
  })

  it('a keyed operator downstream of a union of two keyed inputs gets keyHash edges from both', () => {
    const env = StreamExecutionEnvironment.create({ parallelism: 2 })
    const a = env.fromGenerator((i) => ({ k: i % 3 }), { count: 5, name: 'a' })
    const b = env.fromGenerator((i) => ({ k: i % 4 }), { count: 5, name: 'b' })
    a.union(b)
      .keyBy((e) => e.k)
      .reduce((x, y) => ({ k: x.k + 0 * y.k }), 'r')
      .sinkTo(discard())
    const vs = plan(env)
    const r = byName(vs, 'r')
    expect(r.inputs.map((e) => [e.from, e.partitioning, e.chained])).toEqual([
      [byName(vs, 'a').id, 'keyHash', false],
      [byName(vs, 'b').id, 'keyHash', false],
    ])
  })

  it('sink parallelism set on the sink is honoured, with a rebalance in front', async () => {
    const env = StreamExecutionEnvironment.create({ parallelism: 4 })
    const counts = new Map<number, string[]>()
    env
      .fromGenerator((i) => `r${i}`, { count: 40, name: 'gen' })
      .sinkTo(countingSink('one', counts))
      .setParallelism(1)
    const vs = plan(env)
    expect(byName(vs, 'one')).toMatchObject({ parallelism: 1, inputs: [{ partitioning: 'rebalance', chained: false }] })
    await env.execute()
    expect([...counts.keys()]).toEqual([0])
    expect(counts.get(0)!.length).toBe(40)
  })

  it('task reports count the records each task receives and sends over its edges', async () => {
    const env = StreamExecutionEnvironment.create({ parallelism: 2 })
    env
      .fromGenerator((i) => i, { count: 1000, name: 'gen' })
      .keyBy((i) => i % 10)
      .filter((i) => i % 4 === 0, 'quarter') // keyed, 250 of 1000 pass
      .rebalance()
      .map((i) => i, 'pass')
      .sinkTo(discard('out'))
    const result = await env.execute()
    const sum = (name: string, field: 'recordsIn' | 'recordsOut') => result.tasks.filter((t) => t.name === name).reduce((n, t) => n + t[field], 0)
    expect(sum('gen', 'recordsOut')).toBe(1000)
    expect(sum('quarter', 'recordsIn')).toBe(1000)
    expect(sum('pass -> out', 'recordsIn')).toBe(250)
    // a non-source task sends records too: the filter's task sent 250 over the rebalance edge
    expect(sum('quarter', 'recordsOut')).toBe(250)
  })
})
