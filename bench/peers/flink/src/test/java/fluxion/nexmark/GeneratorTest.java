package fluxion.nexmark;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * The Java generator must produce exactly the TypeScript generator's events. The golden file is
 * written by the TypeScript generator and checked by bench/nexmark/generator.spec.ts too; the
 * checksums (FNV-1a over the JSON lines of the first 200k events) are the same constants there.
 */
class GeneratorTest {
  static final Path GOLDEN = Path.of("..", "..", "nexmark", "testdata", "events-default-first-1000.jsonl");

  @Test
  void firstThousandEventsMatchTheTypeScriptGenerator() throws Exception {
    List<String> expected = Files.readAllLines(GOLDEN, StandardCharsets.UTF_8);
    assertEquals(1000, expected.size());
    Generator g = new Generator(new Generator.Config());
    for (int i = 0; i < expected.size(); i++) assertEquals(expected.get(i), g.generate(i).toJson(), "event " + i);
  }

  static String fnv(Generator.Config config, int n) {
    Generator g = new Generator(config);
    int h = 0x811c9dc5;
    for (int i = 0; i < n; i++) {
      String s = g.generate(i).toJson() + "\n";
      for (int k = 0; k < s.length(); k++) {
        h ^= s.charAt(k);
        h *= 0x01000193;
      }
    }
    return Integer.toHexString(h);
  }

  @Test
  void priceTablesMatchTheTypeScriptGenerator() {
    int h = 0x811c9dc5;
    for (double[] table : new double[][] {Generator.PRICE_HI, Generator.PRICE_MID, Generator.PRICE_LO}) {
      for (double v : table) {
        long bits = Double.doubleToRawLongBits(v);
        h = (h ^ (int) bits) * 0x01000193;
        h = (h ^ (int) (bits >>> 32)) * 0x01000193;
      }
    }
    assertEquals("1c901c13", Integer.toHexString(h));
  }

  @Test
  void checksumsOf200kEventsMatchTheTypeScriptGenerator() {
    assertEquals("5741ca79", fnv(new Generator.Config(), 200_000));
    Generator.Config test = new Generator.Config();
    test.seed = 7;
    test.eventsPerSecond = 200;
    test.outOfOrderGroupSize = 250;
    assertEquals("75ab4d34", fnv(test, 200_000));
    Generator.Config odd = new Generator.Config();
    odd.seed = 123456789;
    odd.eventsPerSecond = 333333;
    odd.outOfOrderGroupSize = 977;
    assertEquals("eaeb413e", fnv(odd, 200_000));
  }
}
