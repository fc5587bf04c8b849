/**
 * Summarises V8 .cpuprofile files (from node --cpu-prof): self time aggregated by function name
 * and file, over all given profiles.
 *
 *   npx tsx bench/profile-summary.ts [--top 15] bench/results/stateless-p1-run1.cpuprofile …
 *
 * Self time of a node = the sum of the sampling intervals (timeDeltas) of the samples that landed in
 * it.
 *
 * When `<file>.sourcemaps.json` exists beside a profile (written by bench/pipeline.ts), positions are
 * mapped back to .ts lines: tsx compiles each file to one line, so raw profiles only give columns.
 *
 * When `<file>.job.json` exists beside a profile ({ jobStartUs, jobEndUs }, written by bench/run.ts),
 * only the samples taken while the job ran count: process start-up, module loading (tsx) and the
 * result print are left out. Without it the whole profile counts.
 */
import { existsSync, readFileSync } from 'node:fs'
import { SourceMap, type SourceMapPayload } from 'node:module'
import { relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'

interface CallFrame {
  functionName: string
  url: string
  lineNumber: number
  columnNumber: number
}

interface ProfileNode {
  id: number
  callFrame: CallFrame
}

interface CpuProfile {
  nodes: ProfileNode[]
  samples: number[]
  timeDeltas: number[]
  startTime: number
  endTime: number
}

export interface SelfTimeRow {
  /** Function name, "(anonymous)", or "(anonymous)@colN" when no source map is available. */
  fn: string
  /** File relative to the repo, with the .ts line of the function when a source map is available. */
  file: string
  selfMs: number
  percent: number
}

export interface ProfileSummary {
  files: number
  /** Profiles cut to the job's run time (a .job.json sidecar was found and matched). */
  cutToJob: number
  totalMs: number
  rows: SelfTimeRow[]
  /** Self time by file (without line), e.g. how much is bench harness vs engine vs GC. */
  byFile: { file: string; selfMs: number; percent: number }[]
}

/** The sidecar that bounds a profile to the job: process.hrtime in µs, the clock of profile samples. */
export interface JobWindow {
  jobStartUs: number
  jobEndUs: number
}

export function jobWindowFile(profilePath: string): string {
  return `${profilePath}.job.json`
}

export function sourceMapsFile(profilePath: string): string {
  return `${profilePath}.sourcemaps.json`
}

function loadSourceMaps(profilePath: string): Map<string, SourceMap> {
  const maps = new Map<string, SourceMap>()
  const file = sourceMapsFile(profilePath)
  if (!existsSync(file)) return maps
  const payloads = JSON.parse(readFileSync(file, 'utf8')) as Record<string, Pick<SourceMapPayload, 'version' | 'sources' | 'names' | 'mappings'>>
  for (const [url, p] of Object.entries(payloads)) {
    maps.set(url, new SourceMap({ file: url, sourceRoot: '', sourcesContent: [], version: p.version, sources: p.sources, names: p.names, mappings: p.mappings }))
  }
  return maps
}

/** The 1-based .ts line of a generated position, or undefined when unknown. */
function originalLine(maps: Map<string, SourceMap>, frame: CallFrame): number | undefined {
  const map = maps.get(frame.url)
  if (!map) return undefined
  const entry = map.findEntry(frame.lineNumber, frame.columnNumber) as { originalLine?: number }
  return entry.originalLine === undefined ? undefined : entry.originalLine + 1
}

const REPO_ROOT = fileURLToPath(new URL('..', import.meta.url))

function shortFile(url: string): string {
  if (url === '') return ''
  if (url.startsWith('node:')) return url
  let path = url
  if (url.startsWith('file://')) {
    try {
      path = fileURLToPath(url)
    } catch {
      return url
    }
  }
  const rel = relative(REPO_ROOT, path)
  return rel.startsWith('..') ? path : rel
}

/** Aggregates self time by (function name, file) over `paths`; rows sorted by self time, all of them. */
export function summarizeProfiles(paths: readonly string[]): ProfileSummary {
  const byFn = new Map<string, { fn: string; file: string; selfUs: number }>()
  let totalUs = 0
  let cutToJob = 0
  for (const path of paths) {
    const profile = JSON.parse(readFileSync(path, 'utf8')) as CpuProfile
    const nodes = new Map<number, ProfileNode>()
    for (const n of profile.nodes) nodes.set(n.id, n)
    const { samples, timeDeltas } = profile
    let from = Number.NEGATIVE_INFINITY
    let to = Number.POSITIVE_INFINITY
    const windowFile = jobWindowFile(path)
    if (existsSync(windowFile)) {
      const w = JSON.parse(readFileSync(windowFile, 'utf8')) as JobWindow
      // Use the window only if it lies inside the profile (same clock); otherwise count everything.
      if (w.jobStartUs >= profile.startTime && w.jobEndUs <= profile.endTime && w.jobStartUs < w.jobEndUs) {
        from = w.jobStartUs
        to = w.jobEndUs
        cutToJob++
      }
    }
    const maps = loadSourceMaps(path)
    const selfUs = new Map<number, number>()
    // timeDeltas[i] is the time from sample i-1 to sample i; sample i lasts until sample i+1.
    let t = profile.startTime
    for (let i = 0; i < samples.length; i++) {
      t += timeDeltas[i]
      if (t < from || t > to) continue
      const us = Math.max(0, i + 1 < timeDeltas.length ? timeDeltas[i + 1] : profile.endTime - t)
      selfUs.set(samples[i], (selfUs.get(samples[i]) ?? 0) + us)
      totalUs += us
    }
    for (const [id, us] of selfUs) {
      const frame = nodes.get(id)!.callFrame
      const { functionName, url } = frame
      const line = originalLine(maps, frame)
      const file = shortFile(url) + (line === undefined ? '' : `:${line}`)
      const fn = functionName !== '' ? functionName : url === '' ? '(root)' : line === undefined ? `(anonymous)@col${frame.columnNumber}` : '(anonymous)'
      const key = `${fn}\u0000${file}`
      const row = byFn.get(key)
      if (row) row.selfUs += us
      else byFn.set(key, { fn, file, selfUs: us })
    }
  }
  const rows = [...byFn.values()]
    .sort((a, b) => b.selfUs - a.selfUs)
    .map((r) => ({ fn: r.fn, file: r.file, selfMs: r.selfUs / 1000, percent: totalUs === 0 ? 0 : (100 * r.selfUs) / totalUs }))
  const fileUs = new Map<string, number>()
  for (const r of byFn.values()) {
    const file = r.file === '' ? r.fn : r.file.replace(/:\d+$/, '')
    fileUs.set(file, (fileUs.get(file) ?? 0) + r.selfUs)
  }
  const byFile = [...fileUs]
    .sort((a, b) => b[1] - a[1])
    .map(([file, us]) => ({ file, selfMs: us / 1000, percent: totalUs === 0 ? 0 : (100 * us) / totalUs }))
  return { files: paths.length, cutToJob, totalMs: totalUs / 1000, rows, byFile }
}

/** A plain-text table of the top `top` rows. */
export function formatProfileSummary(title: string, summary: ProfileSummary, top = 10): string {
  const scope = summary.cutToJob === summary.files ? 'job run only' : summary.cutToJob === 0 ? 'whole process' : `${summary.cutToJob} cut to the job run`
  const lines = [`${title}: ${summary.files} profile(s) (${scope}), ${summary.totalMs.toFixed(0)} ms sampled; top ${top} by self time`]
  const rows = summary.rows.slice(0, top)
  const fnWidth = Math.max(8, ...rows.map((r) => r.fn.length))
  for (const r of rows) {
    lines.push(`  ${r.percent.toFixed(1).padStart(5)}%  ${r.selfMs.toFixed(0).padStart(7)} ms  ${r.fn.padEnd(fnWidth)}  ${r.file}`)
  }
  lines.push('  by file: ' + summary.byFile.slice(0, 8).map((f) => `${f.file} ${f.percent.toFixed(1)}%`).join(', '))
  return lines.join('\n')
}

function main(): void {
  const { values, positionals } = parseArgs({ options: { top: { type: 'string', default: '15' } }, allowPositionals: true })
  if (positionals.length === 0) {
    console.error('usage: npx tsx bench/profile-summary.ts [--top N] file.cpuprofile …')
    process.exit(2)
  }
  const top = Number(values.top)
  console.log(formatProfileSummary(positionals.length === 1 ? positionals[0] : `${positionals.length} profiles`, summarizeProfiles(positionals), top))
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) main()
