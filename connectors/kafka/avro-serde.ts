/**
 * Avro in the Confluent wire format (magic byte 0, 4-byte big-endian schema id, Avro binary),
 * with schemas in a Confluent-compatible registry through @kafkajs/confluent-schema-registry.
 *
 * - Serializer: registers the writer schema under the subject (TopicNameStrategy `<topic>-value`
 *   by default) or looks up the subject's latest id (`register: false`), then encodes with avsc.
 * - Deserializer: reads the schema id, fetches the writer schema once per id (cached), and
 *   resolves it against the job's reader schema, so a job compiled with v2 reads v1 records.
 *   Failures (bad magic byte, unknown schema id, undecodable bytes, failed resolution) come back
 *   as a typed `{ ok: false }` result, never as an exception. Once a schema id is resolved, decoding
 *   is synchronous (no promise per record).
 * - A registry given by URL gets a request timeout (`registryTimeoutMs`, default 10 s), so a
 *   registry that accepts connections but never answers is reported as 'registry-unavailable'.
 * - Decimal logical type: values are decimal strings ("-12.34"), exact at any precision.
 */
import { SchemaRegistry, SchemaType } from '@kafkajs/confluent-schema-registry'
import avro from 'avsc'

/** Outcome of decoding one Kafka value. */
export type DecodeResult<T> = { ok: true; value: T } | { ok: false; error: string; kind: DecodeErrorKind }
export type DecodeErrorKind =
  | 'bad-magic-byte'
  | 'unknown-schema-id'
  | 'undecodable'
  | 'resolution-failed'
  /** Not the record's fault: the Kafka source retries with backoff, then fails the job. */
  | 'registry-unavailable'
  /** A record whose value is null (a tombstone) read by a value-only deserializer. */
  | 'tombstone'
  /** A record deserializer (or its `map` function) threw. */
  | 'deserializer-failed'

/** Turns the bytes of a Kafka record value into a T (or a typed failure). May be async (registry look-ups). */
export interface KafkaDeserializer<T> {
  deserialize(bytes: Buffer, topic: string): DecodeResult<T> | Promise<DecodeResult<T>>
}

/** Turns a T into the bytes of a Kafka record value. May be async (schema registration). */
export interface KafkaSerializer<T> {
  serialize(value: T, topic: string): Buffer | Promise<Buffer>
  /**
   * Optional fast path (KafkaSink serializes at write time with it): writes the value's bytes into
   * `buf` at `pos` and returns the end position, or a negative number (−bytes missing) when `buf` is
   * too small, or undefined when it cannot serialize synchronously yet (the sink then keeps the value
   * and calls `serialize` when it sends). Must write exactly what `serialize` returns.
   */
  encodeInto?(value: T, topic: string, buf: Buffer, pos: number): number | undefined
}

const MAGIC_BYTE = 0

/** avsc logical type for `{ type: 'bytes'|'fixed', logicalType: 'decimal', precision, scale }`; JS value: a decimal string. */
class DecimalType extends avro.types.LogicalType {
  private readonly scale: number
  private readonly precision: number
  constructor(schema: any, opts?: any) {
    super(schema, opts)
    this.scale = (schema.scale as number | undefined) ?? 0
    this.precision = schema.precision as number
  }

  override _fromValue(buf: Buffer): string {
    let n = 0n
    for (const b of buf) n = (n << 8n) | BigInt(b)
    if (buf.length > 0 && (buf[0] & 0x80) !== 0) n -= 1n << BigInt(buf.length * 8)
    const neg = n < 0n
    let digits = (neg ? -n : n).toString()
    if (this.scale > 0) {
      digits = digits.padStart(this.scale + 1, '0')
      digits = `${digits.slice(0, -this.scale)}.${digits.slice(-this.scale)}`
    }
    return neg ? `-${digits}` : digits
  }

  override _toValue(value: unknown): Buffer {
    const s = String(value).trim()
    const m = /^(-?)(\d*)(?:\.(\d*))?$/.exec(s)
    if (!m) throw new Error(`not a decimal: ${s}`)
    const frac = (m[3] ?? '').padEnd(this.scale, '0')
    if (frac.length > this.scale && /[1-9]/.test(frac.slice(this.scale))) throw new Error(`decimal ${s} has more than ${this.scale} fraction digits`)
    const unscaledDigits = `${m[2] || '0'}${frac.slice(0, this.scale)}`.replace(/^0+(?=\d)/, '')
    if (this.precision && unscaledDigits.replace(/^0+/, '').length > this.precision) throw new Error(`decimal ${s} exceeds precision ${this.precision}`)
    let n = BigInt(unscaledDigits)
    if (m[1] === '-') n = -n
    // Minimal two's complement big-endian.
    let len = 1
    while (n >= 1n << BigInt(len * 8 - 1) || n < -(1n << BigInt(len * 8 - 1))) len++
    let u = n < 0n ? (1n << BigInt(len * 8)) + n : n
    const out = Buffer.alloc(len)
    for (let i = len - 1; i >= 0; i--) {
      out[i] = Number(u & 0xffn)
      u >>= 8n
    }
    return out
  }

  override _resolve(type: avro.Type): ((x: any) => any) | undefined {
    const t = type as any
    if (t instanceof DecimalType) return t.scale === this.scale ? (x: any) => x : undefined
    if (t.typeName === 'bytes') return (x: any) => this._fromValue(x as Buffer)
    return undefined
  }

  override _export(attrs: any): void {
    attrs.precision = this.precision
    attrs.scale = this.scale
  }
}

/** The options every avsc type of this module is parsed with (each parse gets its own name registry). */
function typeOptions(): Partial<avro.ForSchemaOptions> {
  return { logicalTypes: { decimal: DecimalType as any }, wrapUnions: false, registry: {} }
}

/** Parses an Avro schema (object or JSON text) with the logical types this module supports. */
export function avroType(schema: avro.Schema | string): avro.Type {
  return avro.Type.forSchema(typeof schema === 'string' ? (JSON.parse(schema) as avro.Schema) : schema, typeOptions() as avro.ForSchemaOptions)
}

export interface AvroSerdeOptions {
  /** The registry client, or its base URL (e.g. http://127.0.0.1:18081/apis/ccompat/v7). */
  registry: SchemaRegistry | string
  /** The job's Avro schema: the writer schema when serializing, the reader schema when deserializing. */
  schema: avro.Schema | string
  /** Subject naming; default TopicNameStrategy: `${topic}-value`. */
  subject?: (topic: string) => string
  /** Serializer: register the schema (default) or look up the subject's latest id. */
  register?: boolean
  /** Timeout of each registry request when `registry` is a URL. Default 10 000 ms. */
  registryTimeoutMs?: number
}

type RegistryMiddleware = NonNullable<ConstructorParameters<typeof SchemaRegistry>[0]['middlewares']>[number]

/** mappersmith middleware: a request timeout unless the request has its own. */
function timeoutMiddleware(ms: number): RegistryMiddleware {
  type Req = { timeout(): number | undefined; enhance(extras: { timeout: number }): Req }
  const middleware = () => ({ prepareRequest: (next: () => Promise<Req>) => next().then((req) => (req.timeout() ? req : req.enhance({ timeout: ms }))) })
  return middleware as unknown as RegistryMiddleware
}

function registryOf(r: SchemaRegistry | string, timeoutMs = 10_000): SchemaRegistry {
  return typeof r === 'string' ? new SchemaRegistry({ host: r, middlewares: [timeoutMiddleware(timeoutMs)] }) : r
}

const topicNameStrategy = (topic: string) => `${topic}-value`

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e)
}

/** Encodes values with the job's schema in the Confluent wire format. */
export class AvroSerializer<T> implements KafkaSerializer<T> {
  private readonly registry: SchemaRegistry
  readonly type: avro.Type
  private readonly schemaText: string
  private readonly subject: (topic: string) => string
  private readonly ids = new Map<string, Promise<number>>()
  /** Ids known by subject: serializing with them is synchronous. */
  private readonly knownIds = new Map<string, number>()
  private lastTopic: string | undefined
  private lastSubject = ''

  constructor(private readonly opts: AvroSerdeOptions) {
    this.registry = registryOf(opts.registry, opts.registryTimeoutMs)
    this.type = avroType(opts.schema)
    this.schemaText = typeof opts.schema === 'string' ? opts.schema : JSON.stringify(opts.schema)
    this.subject = opts.subject ?? topicNameStrategy
  }

  /** The registry id of the schema for `topic` (registered or looked up once, then cached). */
  schemaId(topic: string): Promise<number> {
    const subject = this.subject(topic)
    let id = this.ids.get(subject)
    if (!id) {
      id =
        this.opts.register === false
          ? this.registry.getLatestSchemaId(subject)
          : this.registry.register({ type: SchemaType.AVRO, schema: this.schemaText }, { subject }).then((r) => r.id)
      id.then(
        (known) => this.knownIds.set(subject, known),
        () => this.ids.delete(subject),
      )
      this.ids.set(subject, id)
    }
    return id
  }

  /** Encodes synchronously with a known schema id. */
  encodeWithId(id: number, value: T): Buffer {
    const body = this.type.toBuffer(value)
    const out = Buffer.allocUnsafe(5 + body.length)
    out[0] = MAGIC_BYTE
    out.writeInt32BE(id, 1)
    body.copy(out, 5)
    return out
  }

  /** The schema id for `topic` if already known (one look-up per record, so the last topic is remembered). */
  private knownId(topic: string): number | undefined {
    if (topic !== this.lastTopic) {
      this.lastTopic = topic
      this.lastSubject = this.subject(topic)
    }
    return this.knownIds.get(this.lastSubject)
  }

  /** Synchronous once the subject's schema id is known (after the first call for the topic). */
  serialize(value: T, topic: string): Buffer | Promise<Buffer> {
    const id = this.knownId(topic)
    if (id !== undefined) return this.encodeWithId(id, value)
    return this.schemaId(topic).then((known) => this.encodeWithId(known, value))
  }

  /** Magic byte, schema id and Avro body written straight into `buf` (no intermediate buffer). Starts the id look-up when it is unknown. */
  encodeInto(value: T, topic: string, buf: Buffer, pos: number): number | undefined {
    const id = this.knownId(topic)
    if (id === undefined) {
      void this.schemaId(topic).catch(() => {}) // failures surface from serialize() when the sink sends
      return undefined
    }
    if (pos + 5 > buf.length) return buf.length - (pos + 5)
    buf[pos] = MAGIC_BYTE
    buf.writeInt32BE(id, pos + 1)
    return this.type.encode(value, buf, pos + 5)
  }
}

/** Decodes the Confluent wire format into values of the job's (reader) schema. */
export class AvroDeserializer<T> implements KafkaDeserializer<T> {
  private readonly registry: SchemaRegistry
  readonly readerType: avro.Type
  /** Resolver (or failure) per writer schema id, while it is looked up. */
  private readonly resolvers = new Map<number, Promise<DecodeResult<avro.Resolver>>>()
  /** Settled look-ups (never 'registry-unavailable'): records of known ids decode synchronously. */
  private readonly settled = new Map<number, DecodeResult<avro.Resolver>>()

  constructor(opts: Pick<AvroSerdeOptions, 'registry' | 'schema' | 'registryTimeoutMs'>) {
    this.registry = registryOf(opts.registry, opts.registryTimeoutMs)
    this.readerType = avroType(opts.schema)
  }

  private resolver(id: number): Promise<DecodeResult<avro.Resolver>> {
    let r = this.resolvers.get(id)
    if (!r) {
      r = this.registry.getSchema(id).then(
        (schema): DecodeResult<avro.Resolver> => {
          try {
            const writer = avroType((schema as avro.Type).schema({ exportAttrs: true }))
            return { ok: true, value: this.readerType.createResolver(writer) }
          } catch (e) {
            return { ok: false, kind: 'resolution-failed', error: `cannot resolve writer schema ${id} to the reader schema: ${message(e)}` }
          }
        },
        (e: unknown): DecodeResult<avro.Resolver> => {
          const text = message(e)
          const status = (e as { status?: number }).status
          if (status === 404 || /not found|40403/i.test(text)) return { ok: false, kind: 'unknown-schema-id', error: `unknown schema id ${id}: ${text}` }
          // Not cached: the registry may come back.
          this.resolvers.delete(id)
          return { ok: false, kind: 'registry-unavailable', error: `schema registry failed for schema id ${id}: ${text}` }
        },
      )
      void r.then((res) => {
        if (res.ok || res.kind !== 'registry-unavailable') this.settled.set(id, res)
        this.resolvers.delete(id)
      })
      this.resolvers.set(id, r)
    }
    return r
  }

  deserialize(bytes: Buffer): DecodeResult<T> | Promise<DecodeResult<T>> {
    if (bytes.length < 5 || bytes[0] !== MAGIC_BYTE) {
      return { ok: false, kind: 'bad-magic-byte', error: bytes.length < 5 ? `too short for the Confluent wire format (${bytes.length} bytes)` : `bad magic byte ${bytes[0]} (expected 0)` }
    }
    const id = bytes.readInt32BE(1)
    const known = this.settled.get(id)
    if (known) return this.decode(bytes, id, known)
    return this.resolver(id).then((res) => this.decode(bytes, id, res))
  }

  private decode(bytes: Buffer, id: number, res: DecodeResult<avro.Resolver>): DecodeResult<T> {
    if (!res.ok) return res
    try {
      // decode() at offset 5 reads in place (no view of the body per record); it reports, not throws, a short buffer.
      const { value, offset } = this.readerType.decode(bytes, 5, res.value)
      if (offset < 0) throw new Error('truncated buffer')
      if (offset < bytes.length) throw new Error('trailing data')
      return { ok: true, value: value as T }
    } catch (e) {
      return { ok: false, kind: 'undecodable', error: `cannot decode Avro with schema id ${id}: ${message(e)}` }
    }
  }
}

/** UTF-8 JSON values (handy for tests and simple topics). */
export function jsonSerde<T>(): KafkaSerializer<T> & KafkaDeserializer<T> {
  return {
    serialize: (v: T) => Buffer.from(JSON.stringify(v)),
    deserialize: (b: Buffer): DecodeResult<T> => {
      try {
        return { ok: true, value: JSON.parse(b.toString('utf8')) as T }
      } catch (e) {
        return { ok: false, kind: 'undecodable', error: `invalid JSON: ${message(e)}` }
      }
    },
  }
}
