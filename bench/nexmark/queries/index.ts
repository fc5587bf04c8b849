/**
 * The Nexmark queries by name.
 */
import type { NexmarkQuery } from './common.ts'
import { Q0 } from './q0.ts'
import { Q1 } from './q1.ts'
import { Q2 } from './q2.ts'
import { Q3 } from './q3.ts'
import { Q4 } from './q4.ts'
import { Q5 } from './q5.ts'
import { Q7 } from './q7.ts'
import { Q8 } from './q8.ts'
import { Q11 } from './q11.ts'
import { Q12 } from './q12.ts'

export const QUERIES: readonly NexmarkQuery[] = [Q0, Q1, Q2, Q3, Q4, Q5, Q7, Q8, Q11, Q12] as NexmarkQuery[]

export function queryByName(name: string): NexmarkQuery {
  const q = QUERIES.find((x) => x.name === name)
  if (!q) throw new Error(`unknown query "${name}"; known: ${QUERIES.map((x) => x.name).join(', ')}`)
  return q
}

export type { NexmarkQuery, LatencyMode, QueryOptions } from './common.ts'
