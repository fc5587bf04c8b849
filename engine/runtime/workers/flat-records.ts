/**
 * A faster encoding, for the common case, of the record batches that cross between worker threads:
 * batches whose values are all flat plain objects of at most MAX_SHAPES shapes (a shape: the same
 * own enumerable keys in the same order; every value undefined, null, a boolean, a number or a
 * string) and whose keys, if any, are such primitives too. Several shapes cover a stream of a union
 * type (Nexmark's persons and auctions on q3's join edge; events of several kinds).
 *
 * `v8.deserialize` rebuilds such objects one property at a time (≈ 1 µs for a 5-field record with a
 * 70-character string). Here each field is a cell (a tag and a number: the value, or a string's
 * length); the cells, timestamps and shapes travel in one ArrayBuffer and the strings joined into
 * one string (v8.serialize copies both as raw bytes or code units, lone surrogates and all); each
 * record is rebuilt as a copy of a template object of its shape, then filled in.
 *
 * Measured (encode + serialize + deserialize + decode, same process, alternated): a Nexmark bid row
 * with its key 0.8–1.0 µs per record in batches of 512 (v8.serialize: 1.9–2.1 µs; the earlier
 * flat encoding, UTF-8 text and four typed arrays: 1.1–1.6); persons and auctions mixed in batches
 * of 24, 4.9–5.5 µs instead of v8.serialize's 6.4–6.8. q12 at p = 2 on two workers: 358k →
 * 479k–607k events per CPU-second with the first flat encoding, +10% with this one.
 *
 * Contract: `decodeFlat(encodeFlat(b))` equals what the structured-clone algorithm makes of the same
 * batch (`v8.deserialize(v8.serialize(...))`): the same keys in the same order, plain objects,
 * −0 and NaN kept, properties holding undefined kept. `encodeFlat` returns undefined for any batch
 * it cannot carry that way (nested values, arrays, class instances, Maps, bigints, a key named
 * `__proto__`, more than MAX_SHAPES shapes); the caller then uses v8.serialize. One difference: a
 * Proxy of a plain object is read through its traps here, where the structured clone refuses it
 * (DataCloneError); its enumerable values arrive as a plain object.
 */
const UNDEFINED = 0
const NULL = 1
const FALSE = 2
const TRUE = 3
const NUMBER = 4
const STRING = 5

/** Most record shapes one flat batch carries (a record's shape is one byte). */
export const MAX_SHAPES = 16

/**
 * An encoded batch: the field names, the text and one ArrayBuffer, which v8.serialize copies as raw
 * bytes (typed arrays would each take a JS callback of Node's serializer: four per batch cost more
 * than the copy for the small batches of a filtered stream).
 */
export interface FlatBatch {
  /** Tells a flat batch from v8's [values, timestamps, keys] when both come out of v8.deserialize. */
  flat: 1
  /** The field names of each shape of record in the batch. */
  shapes: string[][]
  /** Records. */
  n: number
  /** Cells: the records' fields, record after record, each in its shape's order; then the keys (if any). */
  cells: number
  hasKeys: boolean
  /** Whether `packed` says each record's shape (when every record has the first shape, it does not). */
  hasShapes: boolean
  /** The string cells one after the other. */
  text: string
  /**
   * Float64 × cells: a number cell's value, or a string cell's length (UTF-16 code units);
   * Float64 × n: the timestamps; Uint8 × cells: the cells' tags; Uint8 × n (if hasShapes): the
   * records' shapes (indices into `shapes`).
   */
  packed: ArrayBuffer
}

/** Cells of one batch being encoded. */
class CellWriter {
  tags: Uint8Array
  nums: Float64Array
  /** The string cells, joined once at the end (one call instead of one per string). */
  readonly texts: string[] = []
  /** Next cell. */
  at = 0

  constructor(cells: number) {
    this.tags = new Uint8Array(cells)
    this.nums = new Float64Array(cells)
  }

  /** Makes room for `cells` more cells (records of another shape may be wider than the first). */
  reserve(cells: number): void {
    const needed = this.at + cells
    if (needed <= this.tags.length) return
    const size = Math.max(needed, this.tags.length * 2)
    const tags = new Uint8Array(size)
    tags.set(this.tags)
    const nums = new Float64Array(size)
    nums.set(this.nums)
    this.tags = tags
    this.nums = nums
  }

  /** The cells, the timestamps and the shapes of the records (if more than one), as FlatBatch.packed. */
  pack(timestamps: readonly number[], shapeOf: Uint8Array | undefined): ArrayBuffer {
    const cells = this.at
    const n = timestamps.length
    const packed = new ArrayBuffer((cells + n) * 8 + cells + (shapeOf ? n : 0))
    new Float64Array(packed, 0, cells).set(this.nums.subarray(0, cells))
    const ts = new Float64Array(packed, cells * 8, n)
    for (let i = 0; i < n; i++) ts[i] = timestamps[i]
    new Uint8Array(packed, (cells + n) * 8, cells).set(this.tags.subarray(0, cells))
    if (shapeOf) new Uint8Array(packed, (cells + n) * 8 + cells, n).set(shapeOf)
    return packed
  }

  /**
   * The string cells joined: each is recovered by its length in UTF-16 code units. (Not UTF-8: for
   * Nexmark's persons and auctions, hundreds of characters each, encoding and checking the text
   * cost more than v8.serialize of the whole records; v8.serialize copies a string's code units.)
   */
  text(): string {
    return this.texts.join('')
  }

  /** Writes one cell; false when the value is not a flat primitive. */
  write(v: unknown): boolean {
    const at = this.at++
    switch (typeof v) {
      case 'number':
        this.tags[at] = NUMBER
        this.nums[at] = v
        return true
      case 'string':
        this.texts.push(v)
        this.tags[at] = STRING
        this.nums[at] = v.length
        return true
      case 'boolean':
        this.tags[at] = v ? TRUE : FALSE
        return true
      case 'undefined':
        this.tags[at] = UNDEFINED
        return true
      case 'object':
        if (v !== null) return false
        this.tags[at] = NULL
        return true
      default:
        return false
    }
  }
}

/**
 * Whether `v` is a plain object whose enumerable keys are exactly `fields`, in order (for-in also
 * lists inherited enumerable keys, which the structured clone would drop: such a record differs).
 */
function sameShape(v: unknown, fields: readonly string[]): boolean {
  if (typeof v !== 'object' || v === null || Object.getPrototypeOf(v) !== Object.prototype) return false
  let i = 0
  for (const k in v) {
    if (k !== fields[i]) return false
    i++
  }
  return i === fields.length
}

/**
 * The index in `shapes` of the shape of `v`, added if new; −1 when `v` is not a plain object, has
 * inherited enumerable keys or an own `__proto__`, or would be shape number MAX_SHAPES + 1.
 */
function shapeIndex(v: unknown, shapes: string[][]): number {
  if (typeof v !== 'object' || v === null || Object.getPrototypeOf(v) !== Object.prototype) return -1
  for (let s = 0; s < shapes.length; s++) if (sameShape(v, shapes[s])) return s
  if (shapes.length === MAX_SHAPES) return -1
  const fields = Object.keys(v)
  if (fields.includes('__proto__') || !sameShape(v, fields)) return -1
  return shapes.push(fields) - 1
}

/** The batch as a FlatBatch to serialize, or undefined when it is not a batch of flat records of at most MAX_SHAPES shapes. */
export function encodeFlat(values: readonly unknown[], timestamps: readonly number[], keys: readonly unknown[] | null): FlatBatch | undefined {
  const n = values.length
  if (n === 0) return undefined
  const shapes: string[][] = []
  let shapeOf: Uint8Array | undefined
  // The shape of the previous record: runs of one shape are checked against it alone.
  let current = -1
  let cells: CellWriter | undefined
  for (let i = 0; i < n; i++) {
    const v = values[i] as Record<string, unknown>
    if (current < 0 || !sameShape(v, shapes[current])) {
      current = shapeIndex(v, shapes)
      if (current < 0) return undefined
      if (current > 0 && shapeOf === undefined) shapeOf = new Uint8Array(n)
    }
    if (shapeOf !== undefined) shapeOf[i] = current
    const fields = shapes[current]
    const width = fields.length
    if (cells === undefined) cells = new CellWriter(n * width + (keys ? n : 0))
    else cells.reserve(width)
    // sameShape held, so v's own enumerable keys are `fields`, in order: Object.values lists their
    // values in that order (one builtin call instead of a keyed load per field).
    const vals = Object.values(v)
    for (let j = 0; j < width; j++) if (!cells.write(vals[j])) return undefined
  }
  if (keys) {
    cells!.reserve(n)
    for (let i = 0; i < n; i++) if (!cells!.write(keys[i])) return undefined
  }
  return {
    flat: 1,
    shapes,
    n,
    cells: cells!.at,
    hasKeys: keys !== null,
    hasShapes: shapeOf !== undefined,
    text: cells!.text(),
    packed: cells!.pack(timestamps, shapeOf),
  }
}

/**
 * Reads cells in order. Strings are slices of the batch's text: V8 keeps a slice of 13 or more
 * characters as a view of the whole text, so the text lives while any such string does.
 */
class CellReader {
  at = 0
  private textAt = 0

  constructor(
    private readonly tags: Uint8Array,
    private readonly nums: Float64Array,
    private readonly text: string,
  ) {}

  read(): unknown {
    const at = this.at++
    switch (this.tags[at]) {
      case NUMBER:
        return this.nums[at]
      case STRING: {
        const end = this.textAt + this.nums[at]
        const s = this.text.substring(this.textAt, end)
        this.textAt = end
        return s
      }
      case TRUE:
        return true
      case FALSE:
        return false
      case NULL:
        return null
      default:
        return undefined
    }
  }
}

export function isFlatBatch(x: unknown): x is FlatBatch {
  return typeof x === 'object' && x !== null && (x as FlatBatch).flat === 1
}

/** The values, timestamps and keys of a batch made by `encodeFlat` (after its trip through v8.serialize). */
export function decodeFlat(flat: FlatBatch): { values: unknown[]; timestamps: number[]; keys: unknown[] | null } {
  const { shapes, n, packed } = flat
  const count = flat.cells
  const timestamps = new Float64Array(packed, count * 8, n)
  const shapeOf = flat.hasShapes ? new Uint8Array(packed, (count + n) * 8 + count, n) : undefined
  const cells = new CellReader(new Uint8Array(packed, (count + n) * 8, count), new Float64Array(packed, 0, count), flat.text)
  // Every record starts as a copy of its shape's template: objects of one shape, built without a
  // property-by-property transition chain per record.
  const templates = shapes.map((fields) => {
    const template: Record<string, unknown> = {}
    for (const f of fields) template[f] = undefined
    return template
  })
  const values = new Array<unknown>(n)
  for (let i = 0; i < n; i++) {
    const s = shapeOf === undefined ? 0 : shapeOf[i]
    const fields = shapes[s]
    const record = { ...templates[s] }
    for (let j = 0; j < fields.length; j++) record[fields[j]] = cells.read()
    values[i] = record
  }
  let keys: unknown[] | null = null
  if (flat.hasKeys) {
    keys = new Array<unknown>(n)
    for (let i = 0; i < n; i++) keys[i] = cells.read()
  }
  return { values, timestamps: Array.from(timestamps), keys }
}
