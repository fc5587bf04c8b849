/**
 * The stateless and keyed-tumbling-count benchmark pipelines as a job module, for runs on worker
 * threads (bench/pipeline.ts --workers N): every worker imports this file and builds the same
 * graph. Parameters: name, events. The sinks discard (the runner counts from task metrics).
 */
import { defineJob } from '../engine/api/define-job.ts'
import { TumblingEventTimeWindows } from '../operators/window/assigners.ts'
import { bidTimestamps, makeBid, WINDOW_KEYS, WINDOW_SIZE_MS, type Bid, type EuroBid } from './pipelines.ts'

const discard = { name: 'discard', createWriter: () => ({ write() {} }) }

export default defineJob((env, params) => {
  const events = Number(params.events)
  switch (params.name) {
    case 'stateless':
      env
        .fromGenerator((i) => makeBid(i, 1000, 0), { count: events, name: 'bids' }, bidTimestamps())
        .filter((b) => b.auction % 10 !== 0, 'filter')
        .map((b): EuroBid => ({ auction: b.auction, bidder: b.bidder, price: b.price * 0.908, dateTime: b.dateTime, extra: b.extra, t0: b.t0 }), 'q1-map')
        .sinkTo(discard, 'sink')
      return
    case 'keyed-tumbling-count':
      env
        .fromGenerator((i) => makeBid(i, WINDOW_KEYS, 0), { count: events, name: 'bids' }, bidTimestamps())
        .keyBy((b: Bid) => b.bidder)
        .window(TumblingEventTimeWindows.of(WINDOW_SIZE_MS))
        .aggregate(
          { createAccumulator: () => 0, add: (_b: Bid, acc: number) => acc + 1, getResult: (acc: number) => acc, merge: (a: number, b: number) => a + b },
          (bidder: number, window, count: number) => ({ bidder, windowEnd: window.end, count }),
        )
        .sinkTo(discard, 'sink')
      return
    default:
      throw new Error(`bench/worker-pipelines.ts: no worker variant of pipeline "${params.name}" (stateless, keyed-tumbling-count)`)
  }
})
