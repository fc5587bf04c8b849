/**
 * The data of the Kafka benchmark: card transactions as a payment processor would publish them
 * (Avro, ≈180 bytes each in the Confluent wire format), and the enrichment the pipeline's map does.
 *
 * `makeTransaction(i, eventTime)` is a pure function of the index (and the given event time), so
 * every run reads the same records. `eventTime` is the moment the record was produced: the producer
 * sets it and the Kafka record timestamp to the same value, and the map copies it into the output,
 * so a consumer of the output can compute the end-to-end latency without the input record.
 */
import type avro from 'avsc'

export const TRANSACTION_SCHEMA: avro.Schema = {
  type: 'record',
  name: 'Transaction',
  namespace: 'dev.fluxion.bench',
  fields: [
    { name: 'txId', type: 'string' },
    { name: 'accountId', type: 'long' },
    { name: 'cardId', type: 'string' },
    { name: 'merchantId', type: 'long' },
    { name: 'merchantName', type: 'string' },
    { name: 'mcc', type: 'int' },
    { name: 'amountMinor', type: 'long' },
    { name: 'currency', type: { type: 'enum', name: 'Currency', symbols: ['EUR', 'USD', 'GBP', 'CHF', 'JPY'] } },
    { name: 'eventTime', type: { type: 'long', logicalType: 'timestamp-millis' } },
    { name: 'channel', type: { type: 'enum', name: 'Channel', symbols: ['POS', 'ECOM', 'ATM', 'MOTO'] } },
    { name: 'country', type: 'string' },
    { name: 'city', type: ['null', 'string'], default: null },
    { name: 'geo', type: ['null', { type: 'record', name: 'Geo', fields: [{ name: 'lat', type: 'double' }, { name: 'lon', type: 'double' }] }], default: null },
    { name: 'deviceId', type: ['null', 'string'], default: null },
    { name: 'ip', type: ['null', 'string'], default: null },
    { name: 'cardPresent', type: 'boolean' },
  ],
}

export const ENRICHED_SCHEMA: avro.Schema = {
  type: 'record',
  name: 'EnrichedTransaction',
  namespace: 'dev.fluxion.bench',
  fields: [
    { name: 'txId', type: 'string' },
    { name: 'accountId', type: 'long' },
    { name: 'merchantId', type: 'long' },
    { name: 'mcc', type: 'int' },
    { name: 'amountEur', type: 'double' },
    { name: 'currency', type: { type: 'enum', name: 'Currency', symbols: ['EUR', 'USD', 'GBP', 'CHF', 'JPY'] } },
    { name: 'eventTime', type: { type: 'long', logicalType: 'timestamp-millis' } },
    { name: 'channel', type: { type: 'enum', name: 'Channel', symbols: ['POS', 'ECOM', 'ATM', 'MOTO'] } },
    { name: 'country', type: 'string' },
    { name: 'foreign', type: 'boolean' },
    { name: 'highValue', type: 'boolean' },
    { name: 'riskScore', type: 'float' },
  ],
}

export type Currency = 'EUR' | 'USD' | 'GBP' | 'CHF' | 'JPY'
export type Channel = 'POS' | 'ECOM' | 'ATM' | 'MOTO'

export interface Transaction {
  txId: string
  accountId: number
  cardId: string
  merchantId: number
  merchantName: string
  mcc: number
  amountMinor: number
  currency: Currency
  eventTime: number
  channel: Channel
  country: string
  city: string | null
  geo: { lat: number; lon: number } | null
  deviceId: string | null
  ip: string | null
  cardPresent: boolean
}

export interface EnrichedTransaction {
  txId: string
  accountId: number
  merchantId: number
  mcc: number
  amountEur: number
  currency: Currency
  eventTime: number
  channel: Channel
  country: string
  foreign: boolean
  highValue: boolean
  riskScore: number
}

const CURRENCIES: readonly Currency[] = ['EUR', 'USD', 'GBP', 'CHF', 'JPY']
const CHANNELS: readonly Channel[] = ['POS', 'ECOM', 'ATM', 'MOTO']
const COUNTRIES = ['DE', 'FR', 'NL', 'ES', 'IT', 'GB', 'US', 'CH', 'JP', 'PL']
const CITIES = ['Berlin', 'Paris', 'Amsterdam', 'Madrid', 'Rome', 'London', 'New York', 'Zurich', 'Tokyo', 'Warsaw']
const MERCHANTS = ['Corner Grocery', 'City Fuel', 'Online Books Ltd', 'Coffee & Co', 'Electro Market', 'Airline Tickets', 'Pharmacy Plus', 'Streaming Service']
const MCCS = [5411, 5541, 5942, 5814, 5732, 4511, 5912, 4899]
/** Minor units of one unit of each currency, and its rate to EUR. */
const MINOR_PER_UNIT: Record<Currency, number> = { EUR: 100, USD: 100, GBP: 100, CHF: 100, JPY: 1 }
const EUR_RATE: Record<Currency, number> = { EUR: 1, USD: 0.92, GBP: 1.17, CHF: 1.04, JPY: 0.0061 }
const HOME_COUNTRY = 'DE'

/** A 32-bit hash of (i, salt): every field is a function of the index. */
function mix(i: number, salt: number): number {
  let h = Math.imul((i ^ salt) | 0, 0x9e3779b1)
  h ^= h >>> 16
  h = Math.imul(h, 0x85ebca6b)
  h ^= h >>> 13
  return (h ^ (h >>> 16)) >>> 0
}

const hex8 = (n: number): string => n.toString(16).padStart(8, '0')

/** Transaction number `i`, produced at `eventTime` (epoch ms). */
export function makeTransaction(i: number, eventTime: number): Transaction {
  const h = mix(i, 0x2545f491)
  const m = h % MERCHANTS.length
  const c = mix(i, 7) % COUNTRIES.length
  const currency = CURRENCIES[(h >>> 8) % CURRENCIES.length]
  const channel = CHANNELS[(h >>> 12) % CHANNELS.length]
  const online = channel === 'ECOM' || channel === 'MOTO'
  return {
    txId: `${hex8(mix(i, 1))}-${hex8(i)}-${hex8(mix(i, 2))}`,
    accountId: 100_000 + (mix(i, 3) % 500_000),
    cardId: `card-${hex8(mix(i, 4))}`,
    merchantId: 1_000 + m * 37 + (h % 11),
    merchantName: MERCHANTS[m],
    mcc: MCCS[m],
    amountMinor: 50 + (mix(i, 5) % 200_000),
    currency,
    eventTime,
    channel,
    country: COUNTRIES[c],
    city: (h & 3) === 0 ? null : CITIES[c],
    geo: online ? null : { lat: 35 + (mix(i, 6) % 2000) / 100, lon: -5 + (mix(i, 8) % 3000) / 100 },
    deviceId: online ? `dev-${hex8(mix(i, 9))}` : null,
    ip: online ? `10.${(h >>> 16) & 255}.${(h >>> 24) & 255}.${i & 255}` : null,
    cardPresent: !online,
  }
}

/** The pipeline's map: amount in EUR, flags and a toy risk score. */
export function enrich(t: Transaction): EnrichedTransaction {
  const amountEur = (t.amountMinor / MINOR_PER_UNIT[t.currency]) * EUR_RATE[t.currency]
  const foreign = t.country !== HOME_COUNTRY
  const highValue = amountEur >= 1_000
  const riskScore = Math.min(1, (foreign ? 0.3 : 0) + (t.cardPresent ? 0 : 0.25) + (highValue ? 0.3 : amountEur / 5_000) + (t.channel === 'MOTO' ? 0.1 : 0))
  return {
    txId: t.txId,
    accountId: t.accountId,
    merchantId: t.merchantId,
    mcc: t.mcc,
    amountEur,
    currency: t.currency,
    eventTime: t.eventTime,
    channel: t.channel,
    country: t.country,
    foreign,
    highValue,
    riskScore,
  }
}
