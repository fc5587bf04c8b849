/**
 * Avro-encoded state and state schema evolution (DESIGN.md §4).
 *
 * A descriptor with `avroSchema` stores its items (value, list element, map value, accumulator) as
 * Avro binary (avsc). Every stored frame of such a state names the schema it was written with by
 * its fingerprint — CRC-64-AVRO (Rabin) of the schema's Parsing Canonical Form, the fingerprint of
 * Avro's single-object encoding — so entries written before and after a schema change can live side
 * by side (in RocksDB, in snapshots, in compacted checkpoints). Snapshots carry the canonical JSON
 * of every writer schema their rows name (`StateSnapshot.avroSchemas`); a backend keeps them per
 * state in an AvroSchemas registry and reads each entry with `reader.createResolver(writer)`.
 */
import avro from 'avsc'
import { FluxionError } from '../../engine/errors.ts'

type Type = avro.Type
type Resolver = ReturnType<Type['createResolver']>

/** Bytes of a fingerprint in a stored frame (after the header byte). */
export const FINGERPRINT_BYTES = 8
/** The header bit of frames with Avro items (codec.ts). */
export const FLAG_AVRO = 4

/** A parsed schema: its avsc type, Parsing Canonical Form and fingerprint. */
export interface AvroSchemaInfo {
  readonly type: Type
  /** JSON of the Parsing Canonical Form (what snapshots store). */
  readonly canonical: string
  /** CRC-64-AVRO of `canonical`, 8 bytes little-endian (as in Avro's single-object encoding). */
  readonly fingerprint: Buffer
  /** `fingerprint` as a latin1 string: the registry key. */
  readonly key: string
}

/**
 * Parses a descriptor's `avroSchema`: an avsc Type, a schema object, or its JSON text (a bare
 * type name such as `int` is accepted too). Throws avsc's error for an invalid schema.
 */
export function parseAvroSchema(schema: unknown): AvroSchemaInfo {
  let type: Type
  if (avro.Type.isType(schema)) type = schema as Type
  else {
    let parsed = schema
    if (typeof schema === 'string') {
      try {
        parsed = JSON.parse(schema)
      } catch {
        parsed = schema // a type name, e.g. 'int'
      }
    }
    type = avro.Type.forSchema(parsed as Parameters<typeof avro.Type.forSchema>[0], { omitRecordMethods: true })
  }
  return infoOf(type, JSON.stringify(type.schema()))
}

/** A writer schema read back from a snapshot (its canonical JSON). */
function writerSchema(canonical: string): AvroSchemaInfo {
  return infoOf(avro.Type.forSchema(JSON.parse(canonical), { omitRecordMethods: true }), canonical)
}

function infoOf(type: Type, canonical: string): AvroSchemaInfo {
  const fingerprint = rabinFingerprint(canonical)
  return { type, canonical, fingerprint, key: fingerprint.toString('latin1') }
}

// --- CRC-64-AVRO ----------------------------------------------------------------------------------

const EMPTY = 0xc15d213aa4d7a795n
const MASK = 0xffffffffffffffffn
let table: bigint[] | undefined

/** Avro's 64-bit Rabin fingerprint of `text` (UTF-8), 8 bytes little-endian. */
export function rabinFingerprint(text: string): Buffer {
  if (table === undefined) {
    table = []
    for (let i = 0; i < 256; i++) {
      let fp = BigInt(i)
      for (let j = 0; j < 8; j++) fp = (fp >> 1n) ^ (EMPTY & -(fp & 1n))
      table.push(fp & MASK)
    }
  }
  let fp = EMPTY
  for (const b of Buffer.from(text, 'utf8')) fp = (fp >> 8n) ^ table[Number((fp ^ BigInt(b)) & 0xffn)]
  const out = Buffer.alloc(FINGERPRINT_BYTES)
  out.writeBigUInt64LE(fp & MASK)
  return out
}

// --- per-state registry of writer schemas ---------------------------------------------------------

/** The writer schemas a state's stored entries may name, by fingerprint. One per state and backend. */
export class AvroSchemas {
  private readonly byKey = new Map<string, AvroSchemaInfo>()

  constructor(readonly stateName: string) {}

  get size(): number {
    return this.byKey.size
  }

  get(key: string): AvroSchemaInfo | undefined {
    return this.byKey.get(key)
  }

  values(): IterableIterator<AvroSchemaInfo> {
    return this.byKey.values()
  }

  /** Adds a parsed schema (a descriptor's); returns the registered one. */
  addInfo(info: AvroSchemaInfo): AvroSchemaInfo {
    const known = this.byKey.get(info.key)
    if (known === undefined) this.byKey.set(info.key, info)
    else if (known.canonical !== info.canonical) throw collision(this.stateName, known.canonical, info.canonical)
    return known ?? info
  }

  /** Adds a writer schema from a snapshot (canonical JSON); returns the registered one. */
  add(canonical: string): AvroSchemaInfo {
    if (typeof canonical !== 'string') {
      throw new FluxionError('FLX_CHECKPOINT_CORRUPT', `cannot restore state "${this.stateName}": its avroSchemas hold a ${typeof canonical}, not schema JSON`)
    }
    for (const known of this.byKey.values()) if (known.canonical === canonical) return known
    let info: AvroSchemaInfo
    try {
      info = writerSchema(canonical)
    } catch (e) {
      throw new FluxionError('FLX_CHECKPOINT_CORRUPT', `cannot restore state "${this.stateName}": a stored Avro writer schema does not parse (${errorText(e)})`, { cause: e })
    }
    return this.addInfo(info)
  }

  /** The canonical JSON of the schemas that `rows` name. */
  canonicalsOf(rows: Iterable<Row>): string[] {
    const out: string[] = []
    for (const key of fingerprintKeysOf(rows)) {
      const info = this.byKey.get(key)
      if (info === undefined) throw unknownFingerprint(this.stateName, key)
      out.push(info.canonical)
    }
    return out
  }
}

type Row = readonly [unknown, unknown, unknown, Uint8Array | null]

/** The fingerprints (registry keys) that the Avro frames of `rows` name. */
function fingerprintKeysOf(rows: Iterable<Row>): Set<string> {
  const keys = new Set<string>()
  let last: Uint8Array | undefined
  for (const row of rows) {
    const bytes = row[3]
    if (bytes === null || (bytes[0] & FLAG_AVRO) === 0) continue
    if (last !== undefined && sameFingerprint(last, bytes)) continue
    last = bytes
    keys.add(fingerprintKey(bytes))
  }
  return keys
}

/**
 * Of `schemas` (canonical JSON, e.g. gathered from a chain of snapshots), the ones that the
 * frames of `rows` name, for compaction; throws when a row names none of them.
 */
export function schemasNamedBy(stateName: string, rows: Iterable<Row>, schemas: Iterable<string>): string[] {
  const byKey = new Map<string, string>()
  for (const canonical of schemas) byKey.set(rabinFingerprint(canonical).toString('latin1'), canonical)
  const out: string[] = []
  for (const key of fingerprintKeysOf(rows)) {
    const canonical = byKey.get(key)
    if (canonical === undefined) throw unknownFingerprint(stateName, key)
    out.push(canonical)
  }
  return out
}

/** The registry key of the fingerprint in a frame (bytes 1..8). */
export function fingerprintKey(frame: Uint8Array): string {
  return Buffer.from(frame.buffer, frame.byteOffset + 1, FINGERPRINT_BYTES).toString('latin1')
}

function sameFingerprint(a: Uint8Array, b: Uint8Array): boolean {
  for (let i = 1; i <= FINGERPRINT_BYTES; i++) if (a[i] !== b[i]) return false
  return true
}

function collision(state: string, a: string, b: string): FluxionError {
  return new FluxionError('FLX_INTERNAL', `state "${state}": two different Avro schemas have the same fingerprint (${a} and ${b})`)
}

function unknownFingerprint(state: string, key: string): FluxionError {
  return new FluxionError(
    'FLX_CHECKPOINT_CORRUPT',
    `cannot read state "${state}": an entry was written with the Avro schema of fingerprint ${Buffer.from(key, 'latin1').toString('hex')}, which no restored snapshot of the state carries`,
  )
}

function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e)
}

// --- reading ----------------------------------------------------------------------------------------

export type AvroDecode = (payload: Uint8Array) => unknown

/**
 * How one registered state reads and writes Avro: with its descriptor's schema (`own`), or —
 * when the descriptor has none — entries written with a schema are read with that schema.
 */
export class AvroStateCodec {
  private readonly decoders = new Map<string, AvroDecode>()

  constructor(
    readonly stateName: string,
    /** The descriptor's schema: the writer of new entries and the reader of all; undefined when it has none. */
    readonly own: AvroSchemaInfo | undefined,
    readonly registry: AvroSchemas,
  ) {
    if (own !== undefined) registry.addInfo(own)
  }

  /** Serializes one item with the descriptor's schema; a value that does not match names the path. */
  serialize(value: unknown): Buffer {
    const type = this.own!.type
    try {
      return type.toBuffer(value)
    } catch (e) {
      let where = ''
      type.isValid(value, {
        errorHook: (path: string[], v: unknown, t: Type) => {
          if (where === '') where = ` at ${path.length === 0 ? 'the top level' : `"${path.join('.')}"`} (${describeValue(v)} is not a valid ${typeLabel(t)})`
        },
      })
      throw new Error(`the value does not match the state's Avro schema${where}: ${errorText(e)}`, { cause: e })
    }
  }

  /** The decoder of the payloads of an Avro frame, by the fingerprint it carries. */
  decoderFor(frame: Uint8Array): AvroDecode {
    // Consecutive frames mostly name the same schema: compare 8 bytes before building a key.
    if (this.lastFrame !== undefined && sameFingerprint(this.lastFrame, frame)) return this.lastDecode!
    const key = fingerprintKey(frame)
    let decode = this.decoders.get(key)
    if (decode === undefined) {
      const writer = this.registry.get(key)
      if (writer === undefined) throw unknownFingerprint(this.stateName, key)
      decode = this.decoderOf(writer)
      this.decoders.set(key, decode)
    }
    this.lastFrame = Uint8Array.prototype.slice.call(frame, 0, 1 + FINGERPRINT_BYTES) // a copy, also of a Buffer
    this.lastDecode = decode
    return decode
  }

  private lastFrame: Uint8Array | undefined
  private lastDecode: AvroDecode | undefined

  /**
   * Checks that entries written with `writer` can be read with the descriptor's schema; throws
   * FLX_STATE_INCOMPATIBLE naming the state and the field otherwise.
   */
  check(writer: AvroSchemaInfo): void {
    if (!this.decoders.has(writer.key)) this.decoders.set(writer.key, this.decoderOf(writer))
  }

  private decoderOf(writer: AvroSchemaInfo): AvroDecode {
    const own = this.own
    if (own === undefined) {
      const type = writer.type
      return (payload) => type.fromBuffer(asBuffer(payload))
    }
    const type = own.type
    if (writer.key === own.key) return (payload) => type.fromBuffer(asBuffer(payload))
    const resolver = resolve(this.stateName, type, writer.type)
    return (payload) => type.fromBuffer(asBuffer(payload), resolver)
  }
}

function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
}

/** The error for entries without an Avro schema restored into a state declared with one. */
export function notAvroError(state: string): FluxionError {
  return new FluxionError(
    'FLX_STATE_INCOMPATIBLE',
    `state "${state}" now has an avroSchema, but its restored entries were written without one (with the descriptor's serializer, node:v8 by default), so there is no writer schema to resolve them against. ` +
      'Restore with the previous descriptor (no avroSchema), or give the Avro state a new name and migrate the values in the job.',
  )
}

// --- resolution and its diagnosis ---------------------------------------------------------------------

/** `reader.createResolver(writer)`, or FLX_STATE_INCOMPATIBLE naming the state and the field. */
export function resolve(state: string, reader: Type, writer: Type): Resolver {
  try {
    return reader.createResolver(writer)
  } catch (e) {
    const problem = diagnose(reader, writer, []) ?? { path: [], reason: `Avro cannot resolve it: ${errorText(e)}`, fix: FIX_TYPE }
    const field = problem.path.length === 0 ? 'the top-level value' : `field "${problem.path.join('.')}"`
    throw new FluxionError(
      'FLX_STATE_INCOMPATIBLE',
      `state "${state}" cannot read its restored entries with the descriptor's new Avro schema: ${field} ${problem.reason}. ${problem.fix}`,
      { cause: e },
    )
  }
}

interface Problem {
  /** Field names from the top-level record down ('[]' for array items, '{}' for map values). */
  path: string[]
  reason: string
  fix: string
}

const FIX_TYPE =
  'Keep the old type (Avro only promotes int → long → float → double and string ↔ bytes), or add a field with a new name and a default instead of changing this one.'
const FIX_DEFAULT = 'Give the field a default (for an optional field: type ["null", …] with "default": null), or keep the old schema.'

function canResolve(reader: Type, writer: Type): boolean {
  try {
    reader.createResolver(writer)
    return true
  } catch {
    return false
  }
}

function underlying(t: Type): Type {
  return avro.Type.isType(t, 'logical') ? (t as avro.types.LogicalType).underlyingType : t
}

function unionBranches(t: Type): Type[] | undefined {
  return avro.Type.isType(t, 'union') ? (t as avro.types.UnwrappedUnionType).types : undefined
}

/** Finds the (deepest) place where `writer` cannot be read as `reader`; undefined when it can. */
function diagnose(readerType: Type, writerType: Type, path: string[]): Problem | undefined {
  if (canResolve(readerType, writerType)) return undefined
  const reader = underlying(readerType)
  const writer = underlying(writerType)
  const writerBranches = unionBranches(writer)
  if (writerBranches !== undefined) {
    // Every branch the old union can hold must be readable.
    for (const branch of writerBranches) {
      if (canResolve(reader, branch)) continue
      const deeper = diagnoseAgainst(reader, branch, path)
      if (deeper && deeper.path.join('.') !== path.join('.')) return deeper
      return { path, reason: `can no longer hold ${typeLabel(branch)}, which the old schema allowed (old type ${typeLabel(writer)}, new type ${typeLabel(reader)})`, fix: FIX_TYPE }
    }
    return undefined
  }
  return diagnoseAgainst(reader, writer, path)
}

/** `writer` is not a union. */
function diagnoseAgainst(reader: Type, writer: Type, path: string[]): Problem | undefined {
  const readerBranches = unionBranches(reader)
  if (readerBranches !== undefined) {
    // A branch of the same kind (and name) says more than "no branch fits".
    const similar = readerBranches.find((b) => underlying(b).typeName === writer.typeName && (underlying(b).name ?? '') === (writer.name ?? ''))
      ?? readerBranches.find((b) => underlying(b).typeName === writer.typeName)
    const deeper = similar && diagnose(similar, writer, path)
    if (deeper) return deeper
    return { path, reason: `changed from ${typeLabel(writer)} to ${typeLabel(reader)}, and no branch of the new union can read the old values`, fix: FIX_TYPE }
  }
  if (reader.typeName !== writer.typeName && !(avro.Type.isType(reader, 'record', 'error') && avro.Type.isType(writer, 'record', 'error'))) {
    return { path, reason: `changed type from ${typeLabel(writer)} to ${typeLabel(reader)}, which Avro cannot convert`, fix: FIX_TYPE }
  }
  if (avro.Type.isType(reader, 'record', 'error')) return diagnoseRecord(reader as avro.types.RecordType, writer as avro.types.RecordType, path)
  if (avro.Type.isType(reader, 'array')) {
    return diagnose((reader as avro.types.ArrayType).itemsType, (writer as avro.types.ArrayType).itemsType, [...path.slice(0, -1), `${path.at(-1) ?? ''}[]`])
  }
  if (avro.Type.isType(reader, 'map')) {
    return diagnose((reader as avro.types.MapType).valuesType as Type, (writer as avro.types.MapType).valuesType as Type, [...path.slice(0, -1), `${path.at(-1) ?? ''}{}`])
  }
  if (avro.Type.isType(reader, 'enum')) {
    if (!namesMatch(reader, writer)) return renamed(reader, writer, path)
    const symbols = (reader as avro.types.EnumType).symbols
    const lost = (writer as avro.types.EnumType).symbols.filter((s) => !symbols.includes(s))
    return {
      path,
      reason: `(${typeLabel(reader)}) lost the symbol${lost.length === 1 ? '' : 's'} ${lost.map((s) => `"${s}"`).join(', ')}, which old entries may hold`,
      fix: 'Keep the symbols, or give the enum a "default" symbol that old values map to.',
    }
  }
  if (avro.Type.isType(reader, 'fixed')) {
    if (!namesMatch(reader, writer)) return renamed(reader, writer, path)
    return { path, reason: `changed size from ${(writer as avro.types.FixedType).size} to ${(reader as avro.types.FixedType).size} bytes`, fix: FIX_TYPE }
  }
  return { path, reason: `changed type from ${typeLabel(writer)} to ${typeLabel(reader)}, which Avro cannot convert`, fix: FIX_TYPE }
}

function diagnoseRecord(reader: avro.types.RecordType, writer: avro.types.RecordType, path: string[]): Problem | undefined {
  if (!namesMatch(reader, writer)) return renamed(reader, writer, path)
  for (const field of reader.fields) {
    const names = [field.name, ...(field.aliases ?? [])]
    const old = writer.fields.find((f) => names.includes(f.name))
    const at = [...path, field.name]
    if (old === undefined) {
      if (field.defaultValue() === undefined) {
        return { path: at, reason: `(record ${reader.name}) was added without a default, and entries written with the old schema have no value for it`, fix: FIX_DEFAULT }
      }
      continue
    }
    if (canResolve(field.type, old.type)) continue
    return diagnose(field.type, old.type, at) ?? { path: at, reason: `changed type from ${typeLabel(old.type)} to ${typeLabel(field.type)}, which Avro cannot convert`, fix: FIX_TYPE }
  }
  return undefined
}

function unqualified(name: string): string {
  return name.slice(name.lastIndexOf('.') + 1)
}

function namesMatch(reader: Type, writer: Type): boolean {
  if (!writer.name) return true
  return [reader.name, ...(reader.aliases ?? [])].some((n) => n !== undefined && unqualified(n) === unqualified(writer.name!))
}

function renamed(reader: Type, writer: Type, path: string[]): Problem {
  return {
    path,
    reason: `is the ${reader.typeName} ${reader.name}, but old entries hold a ${writer.typeName} named ${writer.name}`,
    fix: `Keep the old name, or add "aliases": ["${writer.name}"] to ${reader.name}.`,
  }
}

function typeLabel(t: Type): string {
  const u = underlying(t)
  const branches = unionBranches(u)
  if (branches) return `union [${branches.map(typeLabel).join(', ')}]`
  if (u.name) return `${u.typeName} ${u.name}`
  if (avro.Type.isType(u, 'array')) return `array of ${typeLabel((u as avro.types.ArrayType).itemsType)}`
  if (avro.Type.isType(u, 'map')) return `map of ${typeLabel((u as avro.types.MapType).valuesType as Type)}`
  return `"${u.typeName}"`
}

function describeValue(v: unknown): string {
  if (v === undefined) return 'undefined'
  try {
    const s = JSON.stringify(v)
    return s === undefined ? String(v) : s.length > 60 ? `${s.slice(0, 57)}...` : s
  } catch {
    return String(v)
  }
}
