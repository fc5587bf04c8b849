package fluxion.nexmark;

import com.fasterxml.jackson.databind.ObjectMapper;
import fluxion.nexmark.Model.Auction;
import fluxion.nexmark.Model.Bid;
import fluxion.nexmark.Model.Event;
import fluxion.nexmark.Model.Person;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.ByteBuffer;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.avro.Schema;
import org.apache.avro.generic.GenericDatumReader;
import org.apache.avro.generic.GenericRecord;
import org.apache.avro.io.BinaryDecoder;
import org.apache.avro.io.DecoderFactory;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.connector.kafka.source.KafkaSource;
import org.apache.flink.connector.kafka.source.enumerator.initializer.OffsetsInitializer;
import org.apache.flink.connector.kafka.source.reader.deserializer.KafkaRecordDeserializationSchema;
import org.apache.flink.streaming.api.datastream.DataStream;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.streaming.api.functions.ProcessFunction;
import org.apache.flink.util.Collector;
import org.apache.kafka.clients.consumer.ConsumerRecord;

/**
 * The Nexmark events read from the runner's pre-filled Kafka topic (bench/nexmark/kafka.ts, the
 * peer of its kafkaNexmarkSource): Flink's KafkaSource from the earliest offsets, bounded at the end
 * offsets at start, the value decoded from the Confluent wire format (magic byte 0, 4-byte schema id,
 * Avro body) with the writer schema fetched from the registry by id, and the watermark of
 * NexmarkJob.watermarks per partition (KafkaSource runs one watermark generator per split).
 */
public final class KafkaEvents {
  private KafkaEvents() {}

  /** The events of `topic`, with watermarks, observed per source subtask for the run's metrics. */
  static DataStream<Event> source(StreamExecutionEnvironment env, String brokers, String registry, String topic, int batch) {
    KafkaSource<Event> source = KafkaSource.<Event>builder()
        .setBootstrapServers(brokers)
        .setTopics(topic)
        .setGroupId("flink-nexmark")
        .setStartingOffsets(OffsetsInitializer.earliest())
        .setBounded(OffsetsInitializer.latest())
        .setDeserializer(new Decoder(registry))
        .build();
    return env.fromSource(source, NexmarkJob.watermarks(batch), "nexmark-kafka-source")
        .process(new Observe()).name("nexmark-observe");
  }

  /** Logs event-time progress per source subtask (chained to the source), as bench/nexmark/kafka.ts observeEvents. */
  static final class Observe extends ProcessFunction<Event, Event> {
    @Override
    public void processElement(Event e, Context ctx, Collector<Event> out) {
      Metrics m = Metrics.current;
      if (m != null) m.observe(getRuntimeContext().getTaskInfo().getIndexOfThisSubtask(), e.dateTime());
      out.collect(e);
    }
  }

  /**
   * Confluent-wire-format Avro → Event. A record whose nested field does not match its event_type
   * (Fluxion: a dead letter) is dropped and counted in DEAD_LETTERS; bytes that are not the wire
   * format, or a schema id the registry does not know, fail the job.
   */
  static final class Decoder implements KafkaRecordDeserializationSchema<Event> {
    static final AtomicLong DEAD_LETTERS = new AtomicLong();

    private final String registry;
    private transient Map<Integer, GenericDatumReader<GenericRecord>> readers;
    private transient BinaryDecoder decoder;
    private transient GenericRecord reuse;

    Decoder(String registry) {
      this.registry = registry.replaceAll("/+$", "");
    }

    @Override
    public void deserialize(ConsumerRecord<byte[], byte[]> record, Collector<Event> out) throws IOException {
      byte[] v = record.value();
      if (v == null || v.length < 5 || v[0] != 0) throw new IOException("not the Confluent wire format at " + record.topic() + "-" + record.partition() + "@" + record.offset());
      int id = ByteBuffer.wrap(v, 1, 4).getInt();
      decoder = DecoderFactory.get().binaryDecoder(v, 5, v.length - 5, decoder);
      reuse = reader(id).read(reuse, decoder);
      Event e = toEvent(reuse);
      if (e == null) DEAD_LETTERS.incrementAndGet();
      else out.collect(e);
    }

    private GenericDatumReader<GenericRecord> reader(int id) throws IOException {
      if (readers == null) readers = new HashMap<>();
      GenericDatumReader<GenericRecord> r = readers.get(id);
      if (r == null) {
        r = new GenericDatumReader<>(new Schema.Parser().parse(fetchSchema(id)));
        readers.put(id, r);
      }
      return r;
    }

    /** GET {registry}/schemas/ids/{id} (Confluent's API; Apicurio serves it under /apis/ccompat/v7). */
    private String fetchSchema(int id) throws IOException {
      HttpRequest req = HttpRequest.newBuilder(URI.create(registry + "/schemas/ids/" + id)).GET().build();
      try {
        HttpResponse<String> res = HttpClient.newHttpClient().send(req, HttpResponse.BodyHandlers.ofString());
        if (res.statusCode() != 200) throw new IOException("schema registry: id " + id + " → HTTP " + res.statusCode() + " " + res.body());
        return new ObjectMapper().readTree(res.body()).get("schema").asText();
      } catch (InterruptedException ex) {
        Thread.currentThread().interrupt();
        throw new IOException(ex);
      }
    }

    @Override
    public TypeInformation<Event> getProducedType() {
      return TypeInformation.of(Event.class);
    }
  }

  /** The model event of a NexmarkEvent record, or null when its nested field does not match event_type. */
  static Event toEvent(GenericRecord r) {
    int type = (Integer) r.get("event_type");
    String field = type == Model.BID ? "bid" : type == Model.AUCTION ? "auction" : type == Model.PERSON ? "person" : null;
    if (field == null || !(r.get(field) instanceof GenericRecord n)) return null;
    Event e = new Event();
    e.kind = type;
    if (type == Model.BID) {
      Bid b = new Bid();
      b.auction = (Long) n.get("auction");
      b.bidder = (Long) n.get("bidder");
      b.price = (Long) n.get("price");
      b.dateTime = (Long) n.get("dateTime");
      b.extra = n.get("extra").toString();
      e.bid = b;
    } else if (type == Model.AUCTION) {
      Auction a = new Auction();
      a.id = (Long) n.get("id");
      a.itemName = n.get("itemName").toString();
      a.description = n.get("description").toString();
      a.initialBid = (Long) n.get("initialBid");
      a.reserve = (Long) n.get("reserve");
      a.dateTime = (Long) n.get("dateTime");
      a.expires = (Long) n.get("expires");
      a.seller = (Long) n.get("seller");
      a.category = (Long) n.get("category");
      a.extra = n.get("extra").toString();
      e.auction = a;
    } else {
      Person p = new Person();
      p.id = (Long) n.get("id");
      p.name = n.get("name").toString();
      p.emailAddress = n.get("emailAddress").toString();
      p.creditCard = n.get("creditCard").toString();
      p.city = n.get("city").toString();
      p.state = n.get("state").toString();
      p.dateTime = (Long) n.get("dateTime");
      p.extra = n.get("extra").toString();
      e.person = p;
    }
    return e;
  }
}
