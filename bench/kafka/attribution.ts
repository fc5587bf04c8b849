/**
 * Where the CPU time of a Kafka pipeline goes: the samples of V8 .cpuprofile files attributed to
 * kafkajs, Avro (avsc + the serde), the Kafka source and sink connectors, the engine, the job's own
 * code, GC and idle. A sample in Node's internals (node:*, native code such as Buffer or the socket)
 * is charged to the nearest caller on its stack that has a category, so the time kafkajs spends in
 * `Buffer` or in socket writes counts as kafkajs. Only samples inside the window of a
 * `<file>.job.json` sidecar ({ jobStartUs, jobEndUs }, bench/profile-summary.ts) count, when there is one.
 *
 *   npx tsx bench/kafka/attribution.ts bench/results/kafka-prof/*.cpuprofile
 */
import { existsSync, readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { jobWindowFile, type JobWindow } from '../profile-summary.ts'

interface Node {
  id: number
  callFrame: { functionName: string; url: string }
  children?: number[]
}

interface Profile {
  nodes: Node[]
  samples: number[]
  timeDeltas: number[]
  startTime: number
  endTime: number
}

const REPO_URL = new URL('../..', import.meta.url).href

export type Category = 'kafkajs' | 'avro' | 'kafka-source' | 'kafka-sink' | 'engine' | 'job code' | 'GC' | 'idle' | 'V8/native (program)' | 'node internals'

/** The category of one frame, or undefined for frames that are charged to their caller. */
export function categoryOf(functionName: string, url: string): Category | undefined {
  if (functionName === '(garbage collector)') return 'GC'
  if (functionName === '(idle)') return 'idle'
  if (functionName === '(program)') return 'V8/native (program)'
  if (url.includes('/node_modules/kafkajs/')) return 'kafkajs'
  if (url.includes('/node_modules/avsc/') || url.includes('/node_modules/@kafkajs/confluent-schema-registry/') || url.endsWith('/connectors/kafka/avro-serde.ts')) return 'avro'
  // The other files of connectors/kafka/: the sink's (kafka-sink.ts, exactly-once-kafka-sink.ts, sink-control-topic.ts) and the source's (the rest).
  const connector = /\/connectors\/kafka\/([^/]+)\.ts$/.exec(url)?.[1]
  if (connector !== undefined) return /sink/.test(connector) ? 'kafka-sink' : 'kafka-source'
  if (!url.startsWith(REPO_URL) || url.includes('/node_modules/')) return undefined
  const inRepo = url.slice(REPO_URL.length)
  if (/^(engine|operators|state|connectors)\//.test(inRepo) || inRepo === 'index.ts') return 'engine'
  if (inRepo.startsWith('bench/')) return 'job code'
  return undefined
}

export interface Attribution {
  profiles: number
  totalMs: number
  rows: { category: Category; ms: number; percent: number }[]
}

export function attribute(paths: readonly string[]): Attribution {
  const totals = new Map<Category, number>()
  let all = 0
  for (const path of paths) {
    const p = JSON.parse(readFileSync(path, 'utf8')) as Profile
    const byId = new Map<number, Node>()
    const parent = new Map<number, number>()
    for (const n of p.nodes) {
      byId.set(n.id, n)
      for (const c of n.children ?? []) parent.set(c, n.id)
    }
    const memo = new Map<number, Category>()
    const categoryOfNode = (id: number): Category => {
      const known = memo.get(id)
      if (known) return known
      let cur: number | undefined = id
      let found: Category | undefined
      while (cur !== undefined && found === undefined) {
        const f = byId.get(cur)!.callFrame
        found = categoryOf(f.functionName, f.url)
        cur = parent.get(cur)
      }
      const c = found ?? 'node internals'
      memo.set(id, c)
      return c
    }
    let from = Number.NEGATIVE_INFINITY
    let to = Number.POSITIVE_INFINITY
    if (existsSync(jobWindowFile(path))) {
      const w = JSON.parse(readFileSync(jobWindowFile(path), 'utf8')) as JobWindow
      if (w.jobStartUs >= p.startTime && w.jobEndUs <= p.endTime && w.jobStartUs < w.jobEndUs) {
        from = w.jobStartUs
        to = w.jobEndUs
      }
    }
    let t = p.startTime
    for (let i = 0; i < p.samples.length; i++) {
      t += p.timeDeltas[i]
      if (t < from || t > to) continue
      const us = Math.max(0, i + 1 < p.timeDeltas.length ? p.timeDeltas[i + 1] : p.endTime - t)
      const c = categoryOfNode(p.samples[i])
      totals.set(c, (totals.get(c) ?? 0) + us)
      all += us
    }
  }
  const rows = [...totals]
    .sort((a, b) => b[1] - a[1])
    .map(([category, us]) => ({ category, ms: Math.round(us / 100) / 10, percent: all === 0 ? 0 : Math.round((1000 * us) / all) / 10 }))
  return { profiles: paths.length, totalMs: Math.round(all / 1000), rows }
}

export function formatAttribution(title: string, a: Attribution): string {
  const lines = [`${title}: ${a.profiles} profile(s), ${a.totalMs} ms sampled; self time by owner (node internals charged to their caller)`]
  for (const r of a.rows) lines.push(`  ${r.percent.toFixed(1).padStart(5)}%  ${r.ms.toFixed(0).padStart(7)} ms  ${r.category}`)
  return lines.join('\n')
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const paths = process.argv.slice(2)
  if (paths.length === 0) {
    console.error('usage: npx tsx bench/kafka/attribution.ts file.cpuprofile …')
    process.exit(2)
  }
  console.log(formatAttribution(paths.length === 1 ? paths[0] : `${paths.length} profiles`, attribute(paths)))
}
