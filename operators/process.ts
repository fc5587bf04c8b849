/**
 * Runs a ProcessFunction or KeyedProcessFunction: state, timers, side outputs.
 */
import { FluxionError } from '../engine/errors.ts'
import { StreamOperator } from '../engine/operator.ts'
import type { Collector } from '../engine/output.ts'
import type { OutputTag } from '../engine/output-tag.ts'
import { NO_TIMESTAMP, hasTimestamp } from '../engine/time.ts'
import type { InternalTimerService, Timer } from '../engine/timers.ts'
import type { AggregatingStateDescriptor, ListStateDescriptor, MapStateDescriptor, ReducingStateDescriptor, ValueStateDescriptor } from '../state/api.ts'
import { VOID_NAMESPACE, type Namespace } from '../state/backend.ts'
import type { KeyedProcessFunction, OnTimerContext, RuntimeContext, TimerService } from './process-function.ts'

export class ProcessOperator<K, IN, OUT> extends StreamOperator<IN, OUT> {
  private timestampValue = NO_TIMESTAMP
  private domain: 'event-time' | 'processing-time' = 'event-time'
  private timers: InternalTimerService<Namespace> | undefined
  private readonly allowedSides: ReadonlySet<string> | undefined
  private readonly collector: Collector<OUT> = { collect: (v) => this.output.collect(v, this.timestampValue) }
  private readonly context = this.createContext()

  constructor(private readonly fn: KeyedProcessFunction<K, IN, OUT>) {
    super()
    this.allowedSides = fn.sideOutputs ? new Set(fn.sideOutputs.map((t) => t.id)) : undefined
  }

  override open(): void {
    if (this.ctx.backend) {
      this.timers = this.getTimerService<Namespace>('user-timers', this, () => VOID_NAMESPACE)
    }
    const runtime = this.runtimeContext()
    try {
      this.fn.open?.(runtime)
    } catch (e) {
      throw this.userError(e)
    }
  }

  private runtimeContext(): RuntimeContext {
    const op = this
    return {
      operatorName: this.name,
      subtaskIndex: this.ctx.subtaskIndex,
      parallelism: this.ctx.parallelism,
      getState<T>(d: ValueStateDescriptor<T>) {
        return op.keyedBackend().getValueState(d)
      },
      getListState<T>(d: ListStateDescriptor<T>) {
        return op.keyedBackend().getListState(d)
      },
      getMapState<MK, MV>(d: MapStateDescriptor<MK, MV>) {
        return op.keyedBackend().getMapState(d)
      },
      getReducingState<T>(d: ReducingStateDescriptor<T>) {
        return op.keyedBackend().getReducingState(d)
      },
      getAggregatingState<IN, ACC, OUT>(d: AggregatingStateDescriptor<IN, ACC, OUT>) {
        return op.keyedBackend().getAggregatingState(d)
      },
    }
  }

  processElement(value: IN, timestamp: number): void {
    this.timestampValue = timestamp
    try {
      this.fn.processElement(value, this.context, this.collector)
    } catch (e) {
      throw this.userError(e)
    }
  }

  onEventTime(timer: Timer<Namespace>): void {
    this.fireTimer(timer.timestamp, 'event-time', timer.timestamp)
  }

  onProcessingTime(timer: Timer<Namespace>): void {
    this.fireTimer(timer.timestamp, 'processing-time', NO_TIMESTAMP)
  }

  private fireTimer(time: number, domain: 'event-time' | 'processing-time', outputTimestamp: number): void {
    if (!this.fn.onTimer) return
    this.timestampValue = outputTimestamp
    this.domain = domain
    try {
      this.fn.onTimer(time, this.context, this.collector)
    } catch (e) {
      throw this.userError(e)
    } finally {
      this.domain = 'event-time'
    }
  }

  override close(): void {
    this.fn.close?.()
  }

  // --- context -------------------------------------------------------------------------------

  private createContext(): OnTimerContext<K> {
    const op = this
    const timerService: TimerService = {
      currentProcessingTime: () => op.ctx.clock.now(),
      currentWatermark: () => op.currentWatermark(),
      registerEventTimeTimer: (time) => op.timers!.registerEventTimeTimer(VOID_NAMESPACE, time),
      registerProcessingTimeTimer: (time) => op.timers!.registerProcessingTimeTimer(VOID_NAMESPACE, time),
      deleteEventTimeTimer: (time) => op.timers!.deleteEventTimeTimer(VOID_NAMESPACE, time),
      deleteProcessingTimeTimer: (time) => op.timers!.deleteProcessingTimeTimer(VOID_NAMESPACE, time),
    }
    return {
      timestamp: () => (hasTimestamp(op.timestampValue) ? op.timestampValue : undefined),
      output<X>(tag: OutputTag<X>, value: X) {
        if (op.allowedSides && !op.allowedSides.has(tag.id)) {
          throw new FluxionError(
            'FLX_UNKNOWN_SIDE_OUTPUT',
            `operator "${op.name}" emitted to side output "${tag.id}", which its function does not declare in sideOutputs. Add the tag to sideOutputs.`,
          )
        }
        op.output.collectSide(tag, value, op.timestampValue)
      },
      timerService() {
        if (!op.timers) {
          throw new FluxionError(
            'FLX_TIMERS_NOT_KEYED',
            `operator "${op.name}" uses timers, but timers only work on keyed streams. Call keyBy(...) before process(...).`,
          )
        }
        return timerService
      },
      getCurrentKey: () => op.keyedBackend().getCurrentKey() as K,
      timeDomain: () => op.domain,
    }
  }
}
