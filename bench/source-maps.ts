/**
 * tsx compiles each .ts file to a single line of JavaScript, so CPU profiles point at columns of
 * that line. writeSourceMaps saves { url: source map } for every repo module that was loaded (the
 * process needs --enable-source-maps), so bench/profile-summary.ts can print .ts line numbers.
 */
import { existsSync, readdirSync, writeFileSync } from 'node:fs'
import { findSourceMap } from 'node:module'
import { join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'

const SOURCE_DIRS = ['engine', 'operators', 'state', 'connectors', 'serving', 'bench']

export function writeSourceMaps(path: string): void {
  const root = fileURLToPath(new URL('..', import.meta.url))
  const maps: Record<string, unknown> = {}
  const files = [join(root, 'index.ts')]
  for (const dir of SOURCE_DIRS) {
    const abs = join(root, dir)
    if (!existsSync(abs)) continue
    for (const f of readdirSync(abs, { recursive: true, encoding: 'utf8' })) if (f.endsWith('.ts') && !f.includes('node_modules')) files.push(join(abs, f))
  }
  for (const file of files) {
    const url = pathToFileURL(file).href
    const map = findSourceMap(url) ?? findSourceMap(file)
    if (!map) continue
    const { version, sources, names, mappings } = map.payload
    maps[url] = { version, sources, names, mappings }
  }
  writeFileSync(path, JSON.stringify(maps))
}
