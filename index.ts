/**
 * Fluxion's public API. Everything a job needs is exported here; nothing else is public.
 */
export { StreamExecutionEnvironment } from './engine/api/environment.ts'
export type { EnvironmentOptions, JobClient, JobExecutionResult, TaskReport } from './engine/api/environment.ts'
export { DataStream, KeyedStream, DataStreamSink } from './engine/api/data-stream.ts'
export type { KeySelector } from './engine/api/data-stream.ts'
export { WindowedStream } from './engine/api/windowed-stream.ts'
export type { WindowFunction } from './engine/api/windowed-stream.ts'
export { JoinBuilder, WindowedJoin, IntervalJoinBuilder, IntervalJoined } from './engine/api/joins.ts'
export { defineJob, parseJobParams } from './engine/api/define-job.ts'
export type { JobDefinition, JobParams, JobBuild, JobBuildResult } from './engine/api/define-job.ts'
export { loadJob } from './engine/runtime/workers/job-module.ts'
export type { LoadedJob } from './engine/runtime/workers/job-module.ts'

export { WatermarkStrategy } from './engine/watermarks.ts'
export type { WatermarkGenerator, WatermarkOutput, TimestampAssigner } from './engine/watermarks.ts'
export { OutputTag } from './engine/output-tag.ts'
export type { Collector } from './engine/output.ts'
export { SystemClock, ManualClock } from './engine/time.ts'
export type { Clock } from './engine/time.ts'
export { FluxionError } from './engine/errors.ts'
export type { FluxionErrorCode, ErrorDomain } from './engine/errors.ts'
export { DEAD_LETTERS } from './engine/source.ts'
export type { Source, SourceReader, SourceReaderContext, ReaderOutput, InputStatus, DeadLetter } from './engine/source.ts'

export {
  TumblingEventTimeWindows,
  TumblingProcessingTimeWindows,
  SlidingEventTimeWindows,
  EventTimeSessionWindows,
  GlobalWindows,
} from './operators/window/assigners.ts'
export type { WindowAssigner } from './operators/window/assigners.ts'
export { EventTimeTrigger, ProcessingTimeTrigger, CountTrigger, PurgingTrigger } from './operators/window/triggers.ts'
export type { Trigger, TriggerContext, TriggerResult, OnMergeContext } from './operators/window/triggers.ts'
export type { TimeWindow } from './operators/window/window.ts'
export type { AggregateFunction, ReduceFunction, ProcessWindowFunction, ProcessWindowContext } from './operators/window/window-functions.ts'
export type { ProcessFunction, KeyedProcessFunction, ProcessContext, KeyedProcessContext, OnTimerContext, RuntimeContext, TimerService } from './operators/process-function.ts'
export type { ProcessJoinFunction, ProcessJoinContext } from './operators/join/interval-join.ts'
export type { Sink, SinkWriter, SinkWriterContext } from './operators/sink.ts'

export { ValueStateDescriptor, ListStateDescriptor, MapStateDescriptor, ReducingStateDescriptor, AggregatingStateDescriptor, V8_SERIALIZER } from './state/api.ts'
export type {
  ValueState,
  ListState,
  MapState,
  ReducingState,
  AggregatingState,
  StateSerializer,
  StateTtlConfig,
  StateDescriptorOptions,
  MapStateDescriptorOptions,
  AvroSchema,
} from './state/api.ts'

export { CollectionSource } from './connectors/collection-source.ts'
export { GeneratorSource } from './connectors/generator-source.ts'
export type { GeneratorSourceOptions } from './connectors/generator-source.ts'
export { JsonLinesSource } from './connectors/json-lines-source.ts'
export { CollectSink, JsonLinesFileSink, PrintSink } from './connectors/sinks.ts'
export { TransactionalJsonLinesSink } from './connectors/transactional-file-sink.ts'
export type { FileCommittable } from './connectors/transactional-file-sink.ts'
export type { TwoPhaseCommitSink, PrecommittingSinkWriter, Committer } from './operators/sink.ts'
export type { CheckpointConfig } from './engine/checkpoint/coordinator.ts'
export type { CheckpointStats } from './engine/checkpoint/types.ts'
export type { RestartStrategyConfig } from './engine/runtime/restart-strategy.ts'
export type { ExecuteOptions } from './engine/api/environment.ts'
export type { SavepointResult } from './engine/runtime/job-runner.ts'

export { KafkaSource } from './connectors/kafka/kafka-source.ts'
export type { KafkaSourceOptions, KafkaSplit, StartFrom, OffsetResetStrategy } from './connectors/kafka/kafka-source.ts'
export { kafkaRecordDeserializer } from './connectors/kafka/kafka-record.ts'
export type { KafkaRecord, KafkaRecordDeserializer, KafkaHeaders, RecordDeserializerOptions } from './connectors/kafka/kafka-record.ts'
export { kafkaDeadLetterFormat, DEAD_LETTER_HEADERS } from './connectors/kafka/dead-letters.ts'
export { METRIC } from './engine/metrics.ts'
export type { MetricSample } from './engine/metrics.ts'
export { KafkaSink } from './connectors/kafka/kafka-sink.ts'
export type { KafkaSinkOptions } from './connectors/kafka/kafka-sink.ts'
export { AvroSerializer, AvroDeserializer, avroType, jsonSerde } from './connectors/kafka/avro-serde.ts'
export type { AvroSerdeOptions, DecodeResult, DecodeErrorKind, KafkaSerializer, KafkaDeserializer } from './connectors/kafka/avro-serde.ts'
