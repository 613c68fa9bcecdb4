package io.periscope.agent.health;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.periscope.agent.testing.PrometheusScrape;
import org.junit.jupiter.api.Test;

class PrometheusTextTest {
  @Test
  void aLabelledSampleJoinsItsFamilyWhereverItIsAdded() {
    String text = new PrometheusText()
        .counter("x_failures_total", "Failures", "protocol", "http1", 3)
        .gauge("y_open", "Open now", 2)
        .counter("x_failures_total", "Failures", "protocol", "http2", 4)
        .render();
    assertThat(text).isEqualTo("""
        # HELP x_failures_total Failures
        # TYPE x_failures_total counter
        x_failures_total{protocol="http1"} 3
        x_failures_total{protocol="http2"} 4
        # HELP y_open Open now
        # TYPE y_open gauge
        y_open 2
        """);
    PrometheusScrape scrape = PrometheusScrape.parse(text);
    assertThat(scrape.value("x_failures_total", "protocol", "http2")).isEqualTo(4);
  }

  @Test
  void aHistogramIsCumulativeInSecondsWithAnInfiniteLastBucket() {
    String text = new PrometheusText()
        .histogram("e_seconds", "Export time", new long[] {5, 250}, new long[] {1, 2, 3}, 1.5)
        .render();
    assertThat(text).contains("e_seconds_bucket{le=\"0.005\"} 1\n", "e_seconds_bucket{le=\"0.25\"} 3\n",
        "e_seconds_bucket{le=\"+Inf\"} 6\n", "e_seconds_sum 1.5\n", "e_seconds_count 6\n");
    assertThat(PrometheusScrape.parse(text).value("e_seconds_count")).isEqualTo(6);
  }

  @Test
  void labelValuesAndHelpAreEscaped() {
    String text = new PrometheusText().gauge("v", "a \\ b\nc", "version", "1\"2\\3", 1).render();
    assertThat(text).contains("# HELP v a \\\\ b\\nc\n", "v{version=\"1\\\"2\\\\3\"} 1\n");
    PrometheusScrape.parse(text);
  }

  @Test
  void oneNameCannotBeTwoTypes() {
    PrometheusText m = new PrometheusText().gauge("z", "h", 1);
    assertThatThrownBy(() -> m.counter("z", "h", 1)).isInstanceOf(IllegalArgumentException.class);
  }

  @Test
  void theScrapeParserRefusesWhatPrometheusWould() {
    assertThatThrownBy(() -> PrometheusScrape.parse("x 1\n")).hasMessageContaining("outside its family");
    assertThatThrownBy(() -> PrometheusScrape.parse("# TYPE x counter\nx 1\n")).hasMessageContaining("_total");
    assertThatThrownBy(() -> PrometheusScrape.parse("# TYPE x_total counter\nx_total one\n"))
        .hasMessageContaining("bad value");
    assertThatThrownBy(() -> PrometheusScrape.parse("# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\n"
        + "h_sum 1\nh_count 1\n")).hasMessageContaining("cumulative");
  }
}
