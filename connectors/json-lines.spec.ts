/**
 * JSON Lines file source and sink, the dead-letter side output for unreadable lines, and the
 * print sink.
 */
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { DEAD_LETTERS, FluxionError, StreamExecutionEnvironment, type DeadLetter } from '../index.ts'

interface Order {
  id: number
  user: string
  amount: number
}

let dir: string
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'fluxion-jsonl-'))
})
afterEach(() => {
  rmSync(dir, { recursive: true, force: true })
})

const orders = (n: number, from = 0): Order[] => Array.from({ length: n }, (_, i) => ({ id: from + i, user: `u${(from + i) % 7}`, amount: ((from + i) * 37) % 1000 }))
const toLines = (rows: readonly unknown[]) => rows.map((r) => JSON.stringify(r)).join('\n') + '\n'
const readLines = <T>(path: string): T[] =>
  readFileSync(path, 'utf8')
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as T)

describe('JSON Lines source → sink', () => {
  it('round trip through a map: every line read, transformed and written, in order', async () => {
    const input = join(dir, 'orders.jsonl')
    const output = join(dir, 'out', 'doubled.jsonl')
    const rows = orders(50_000) // several read chunks, and more lines than the reader buffers
    writeFileSync(input, toLines(rows))
    const env = StreamExecutionEnvironment.create({ parallelism: 1 })
    env
      .readJsonLines<Order>(input)
      .map((o) => ({ ...o, amount: o.amount * 2 }))
      .writeAsJsonLines(output)
    await env.execute()
    expect(readLines<Order>(output)).toEqual(rows.map((o) => ({ ...o, amount: o.amount * 2 })))
  })

  it('skips blank lines, accepts CRLF and a last line without a newline', async () => {
    const input = join(dir, 'mixed.jsonl')
    writeFileSync(input, '{"id":1}\r\n\n   \n{"id":2}\r\n[3]\n"four"\n5')
    const env = StreamExecutionEnvironment.create()
    const [rows] = await env.executeAndCollect(env.readJsonLines<unknown>(input))
    expect(rows).toEqual([{ id: 1 }, { id: 2 }, [3], 'four', 5])
  })

  it('reads several files with parallelism 2, each line exactly once, and writes one file per sink subtask', async () => {
    const files = [0, 1, 2].map((f) => join(dir, `part-${f}.jsonl`))
    const all: Order[] = []
    files.forEach((file, f) => {
      const rows = orders(1_000 + f * 500, f * 10_000)
      all.push(...rows)
      writeFileSync(file, toLines(rows))
    })
    const env = StreamExecutionEnvironment.create({ parallelism: 2 })
    const output = join(dir, 'out.jsonl')
    env.readJsonLines<Order>(files).writeAsJsonLines(output)
    const result = await env.execute()
    const sources = result.tasks.filter((t) => t.name.startsWith('json-lines('))
    expect(sources.map((t) => t.subtask)).toEqual([0, 1])
    // files are spread over the subtasks: 0 and 2 on subtask 0, 1 on subtask 1
    expect(sources.map((t) => t.recordsOut)).toEqual([1_000 + 2_000, 1_500])
    expect(readdirSync(dir).filter((f) => f.startsWith('out')).sort()).toEqual(['out-0.jsonl', 'out-1.jsonl'])
    const written = [...readLines<Order>(join(dir, 'out-0.jsonl')), ...readLines<Order>(join(dir, 'out-1.jsonl'))]
    expect(written.sort((a, b) => a.id - b.id)).toEqual(all.sort((a, b) => a.id - b.id))
  })

  it('a missing file fails the job with FLX_SOURCE_FAILED naming the file', async () => {
    const env = StreamExecutionEnvironment.create()
    const missing = join(dir, 'nope.jsonl')
    let error: unknown
    try {
      await env.executeAndCollect(env.readJsonLines(missing))
    } catch (e) {
      error = e
    }
    expect(error).toBeInstanceOf(FluxionError)
    expect((error as FluxionError).code).toBe('FLX_SOURCE_FAILED')
    expect((error as FluxionError).message).toContain(missing)
  })
})

describe('bad lines', () => {
  function writeWithBadLines(): { file: string; good: Order[] } {
    const file = join(dir, 'with-bad.jsonl')
    const good = orders(6)
    const lines = [
      JSON.stringify(good[0]),
      JSON.stringify(good[1]),
      '{"id": 2, "user": ', // line 3: truncated
      JSON.stringify(good[2]),
      '',
      JSON.stringify(good[3]),
      'not json at all', // line 7
      JSON.stringify(good[4]),
      JSON.stringify(good[5]),
    ]
    writeFileSync(file, lines.join('\n') + '\n')
    return { file, good }
  }

  it('a bad line goes to DEAD_LETTERS with file and line number; the other lines are processed', async () => {
    const { file, good } = writeWithBadLines()
    const env = StreamExecutionEnvironment.create()
    const orders = env.readJsonLines<Order>(file)
    const dead = orders.getSideOutput(DEAD_LETTERS)
    const amounts = orders.map((o) => o.amount)
    const [rows, letters] = await env.executeAndCollect(amounts, dead)
    expect(rows).toEqual(good.map((o) => o.amount))
    expect(letters.map((l: DeadLetter) => ({ ...l, error: typeof l.error }))).toEqual([
      { source: file, position: { file, line: 3 }, error: 'string', raw: '{"id": 2, "user": ' },
      { source: file, position: { file, line: 7 }, error: 'string', raw: 'not json at all' },
    ])
    for (const l of letters) expect(l.error).toMatch(/invalid JSON/)
  })

  it('dead letters can be written to their own JSON Lines file', async () => {
    const { file } = writeWithBadLines()
    const env = StreamExecutionEnvironment.create()
    const input = env.readJsonLines<Order>(file)
    input.writeAsJsonLines(join(dir, 'good.jsonl'))
    input.getSideOutput(DEAD_LETTERS).writeAsJsonLines(join(dir, 'dead.jsonl'))
    await env.execute()
    expect(readLines<Order>(join(dir, 'good.jsonl'))).toHaveLength(6)
    expect(readLines<DeadLetter>(join(dir, 'dead.jsonl')).map((l) => l.position.line)).toEqual([3, 7])
  })

  it('without a dead-letter consumer, the job fails with FLX_BAD_RECORD naming file and line', async () => {
    const { file } = writeWithBadLines()
    const env = StreamExecutionEnvironment.create()
    let error: unknown
    try {
      await env.executeAndCollect(env.readJsonLines<Order>(file))
    } catch (e) {
      error = e
    }
    expect(error).toBeInstanceOf(FluxionError)
    const e = error as FluxionError
    expect(e.code).toBe('FLX_BAD_RECORD')
    expect(e.message).toContain(file)
    expect(e.message).toMatch(/"line":3/)
    expect(e.message).toMatch(/DEAD_LETTERS/)
    expect(e.domain).toBe('user')
  })
})

describe('print sink', () => {
  function capture(run: () => Promise<unknown>): Promise<string[]> {
    const lines: string[] = []
    const spy = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      lines.push(String(chunk))
      return true
    })
    return run()
      .then(() => lines)
      .finally(() => spy.mockRestore())
  }

  it('prints each record as one JSON line', async () => {
    const env = StreamExecutionEnvironment.create()
    env.fromCollection([{ a: 1 }, { a: 2, b: 'x' }, 3]).print()
    const out = await capture(() => env.execute())
    expect(out).toEqual(['{"a":1}\n', '{"a":2,"b":"x"}\n', '3\n'])
  })

  it('prefixes the subtask (1-based) when parallel, after the prefix, as Flink does', async () => {
    const env = StreamExecutionEnvironment.create({ parallelism: 2 })
    env.fromGenerator((i) => ({ i, big: BigInt(i) * 10n }), { count: 4 }).print('dbg')
    const out = await capture(() => env.execute())
    expect(out.sort()).toEqual(['dbg:1> {"i":0,"big":"0"}\n', 'dbg:1> {"i":2,"big":"20"}\n', 'dbg:2> {"i":1,"big":"10"}\n', 'dbg:2> {"i":3,"big":"30"}\n'])
  })

  it('a prefix alone at parallelism 1', async () => {
    const env = StreamExecutionEnvironment.create()
    env.fromCollection(['x']).print('p')
    expect(await capture(() => env.execute())).toEqual(['p> "x"\n'])
  })
})
