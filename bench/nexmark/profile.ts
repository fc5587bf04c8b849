/**
 * Aggregates the self time of V8 .cpuprofile files (node --cpu-prof) by function.
 *
 *   npx tsx bench/nexmark/profile.ts [--top 20] file.cpuprofile [more.cpuprofile …]
 *
 * Self time of a function = the sum of the sampling intervals of the samples whose top frame is it.
 * Positions are those of the code V8 ran (tsx compiles each .ts file to one line, so lines are not
 * the .ts lines); the function name and file are what matter here.
 */
import { readFileSync } from 'node:fs'
import { relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'

interface CpuProfile {
  nodes: { id: number; callFrame: { functionName: string; url: string } }[]
  samples: number[]
  timeDeltas: number[]
}

export interface SelfTime {
  fn: string
  file: string
  ms: number
  percent: number
}

const ROOT = fileURLToPath(new URL('../..', import.meta.url))

function shortUrl(url: string): string {
  if (!url.startsWith('file://')) return url
  const rel = relative(ROOT, fileURLToPath(url))
  return rel.startsWith('..') ? url : rel
}

/** Self time by (function, file) over all `paths`, largest first. */
export function selfTimes(paths: readonly string[]): SelfTime[] {
  const totals = new Map<string, { fn: string; file: string; us: number }>()
  let all = 0
  for (const path of paths) {
    const p = JSON.parse(readFileSync(path, 'utf8')) as CpuProfile
    const frames = new Map(p.nodes.map((n) => [n.id, n.callFrame]))
    for (let i = 0; i < p.samples.length; i++) {
      // timeDeltas[i] is the time since the previous sample; charge it to sample i.
      const us = Math.max(0, p.timeDeltas[i] ?? 0)
      const f = frames.get(p.samples[i])!
      const fn = f.functionName || (f.url ? '(anonymous)' : '(root)')
      const file = shortUrl(f.url)
      const key = `${fn}\u0000${file}`
      const row = totals.get(key) ?? { fn, file, us: 0 }
      row.us += us
      totals.set(key, row)
      all += us
    }
  }
  return [...totals.values()]
    .sort((a, b) => b.us - a.us)
    .map((r) => ({ fn: r.fn, file: r.file, ms: r.us / 1000, percent: all > 0 ? (100 * r.us) / all : 0 }))
}

export function formatSelfTimes(rows: readonly SelfTime[], top: number): string {
  const lines = ['| self % | self ms | function | file |', '| ---: | ---: | --- | --- |']
  for (const r of rows.slice(0, top)) lines.push(`| ${r.percent.toFixed(1)} | ${r.ms.toFixed(0)} | \`${r.fn}\` | ${r.file} |`)
  return lines.join('\n')
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const { values, positionals } = parseArgs({ options: { top: { type: 'string', default: '20' } }, allowPositionals: true })
  if (positionals.length === 0) {
    console.error('usage: npx tsx bench/nexmark/profile.ts [--top 20] file.cpuprofile …')
    process.exit(2)
  }
  console.log(formatSelfTimes(selfTimes(positionals), Number(values.top)))
}
