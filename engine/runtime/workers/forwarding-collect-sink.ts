/**
 * The CollectSink of a worker thread. Records are held per checkpoint epoch exactly as CollectSink
 * holds them; on commit the epochs are sent to the main thread, whose CollectSink appends them to
 * the user's array. Epoch ids start with the main sink's id prefix and name the attempt and the
 * worker, so the main sink's commits stay idempotent across restarts (a restored checkpoint's
 * epochs are committed once, new epochs never collide with old ones).
 */
import { epochBufferingWriter, type CollectedEpoch as Epoch } from '../../../connectors/sinks.ts'
import type { Committer, PrecommittingSinkWriter, SinkWriterContext, TwoPhaseCommitSink } from '../../../operators/sink.ts'

type CollectedEpoch = Epoch<unknown>

export class ForwardingCollectSink implements TwoPhaseCommitSink<unknown, CollectedEpoch> {
  readonly name = 'collect'
  readonly twoPhaseCommit = true
  private nextWriter = 0

  constructor(
    /** `<main sink id>.a<attempt>w<worker>`. */
    private readonly idPrefix: string,
    /** Sends committed epochs to the main thread. */
    private readonly forward: (epochs: CollectedEpoch[]) => void,
  ) {}

  createWriter(ctx: SinkWriterContext): PrecommittingSinkWriter<unknown, CollectedEpoch> {
    return epochBufferingWriter<unknown>(`${this.idPrefix}.${ctx.subtaskIndex}.${this.nextWriter++}`)
  }

  createCommitter(): Committer<CollectedEpoch> {
    return {
      commit: (epochs) => {
        const nonEmpty = epochs.filter((e) => e.records.length > 0)
        if (nonEmpty.length > 0) this.forward(nonEmpty)
      },
    }
  }
}
