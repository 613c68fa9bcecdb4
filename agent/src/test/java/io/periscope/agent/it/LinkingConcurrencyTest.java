package io.periscope.agent.it;

import static org.assertj.core.api.Assertions.assertThat;

import io.opentelemetry.proto.trace.v1.Span.SpanKind;
import io.periscope.agent.it.RequestChain.Hop;
import io.periscope.agent.it.RequestChain.LinkScore;
import io.periscope.agent.testing.ReceivedSpan;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.io.TempDir;

/**
 * Twenty clients at once, each request with a path of its own, through nginx -> python and through
 * a chain of three python {@code ThreadingHTTPServer}s. From the spans, knowing which request each
 * belongs to and where in the chain it is: <b>precision</b>, the share of spans with a parent whose
 * parent is the right span, must be exactly 1 (a wrong parent is worse than none); <b>recall</b>,
 * the share of spans that should have a parent and have the right one, is printed and held above
 * what was measured.
 *
 * <p>nginx proxies every request on one thread: a call upstream made while that thread has several
 * requests in flight has no parent on purpose, and says so ({@code concurrent_requests_on_thread}).
 */
@Tag("kernel")
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class LinkingConcurrencyTest {
  private final int nginxPort = ports() + 0;
  private final int upstreamPort = ports() + 1;
  private final int aPort = ports() + 10;
  private final int bPort = ports() + 11;
  private final int cPort = ports() + 12;
  private static final int CLIENTS = 20;
  private static final int REQUESTS_PER_CLIENT = 3;
  private static final String UNLINKED = "periscope.link.unlinked";
  /**
   * Lowest recall accepted through nginx: two of every three spans that should have a parent are
   * linked between processes (nginx SERVER to its client, python SERVER to nginx's CLIENT), which
   * must be exact and is asserted so; the third, nginx's upstream call, is linked only when nginx's
   * one thread had that request alone in flight. Measured over 105 runs: 0 to 9 of the 60 upstream
   * calls linked (1 in half the runs), overall recall 0.661 to 0.717.
   */
  private static final double NGINX_MIN_RECALL = 0.66;
  /** Thread-per-request servers: every span can be linked, and was in each of 101 runs. */
  private static final double CHAIN_MIN_RECALL = 1.0;

  private Path tmp;
  private String client;
  private TracingAgent tracing;
  private PeerProcess upstream;
  private PeerProcess nginx;
  private PeerProcess a;
  private PeerProcess b;
  private PeerProcess c;

  /** The first of the ports this class uses (nginx, its upstream, and the chain 10 above). */
  int ports() {
    return 19_330;
  }

  /** The agent's options besides the ports. */
  List<String> options() {
    return List.of();
  }

  /** Lowest recall accepted through nginx. */
  double nginxMinRecall() {
    return NGINX_MIN_RECALL;
  }

  /** The reasons an upstream call of nginx may give for having no parent. */
  List<String> unlinkedReasons() {
    return List.of("concurrent_requests_on_thread");
  }

  @BeforeAll
  void start(@TempDir Path dir) throws Exception {
    tmp = dir;
    String server = Path.of(LinkingConcurrencyTest.class.getResource("chain_server.py").toURI()).toString();
    client = Path.of(LinkingConcurrencyTest.class.getResource("parallel_client.py").toURI()).toString();
    Path conf = tmp.resolve("nginx.conf");
    // No master: one process, one thread, every request in flight on it.
    Files.writeString(conf, """
        daemon off;
        master_process off;
        pid %1$s/nginx.pid;
        error_log %1$s/error.log;
        events { worker_connections 1024; }
        http {
          access_log off;
          client_body_temp_path %1$s/client_body;
          proxy_temp_path %1$s/proxy;
          fastcgi_temp_path %1$s/fastcgi;
          uwsgi_temp_path %1$s/uwsgi;
          scgi_temp_path %1$s/scgi;
          server {
            listen 127.0.0.1:%2$d backlog=128;
            location / { proxy_pass http://127.0.0.1:%3$d; }
          }
        }
        """.formatted(tmp, nginxPort, upstreamPort));
    List<String> args = new ArrayList<>(options());
    for (int port : List.of(nginxPort, upstreamPort, aPort, bPort, cPort)) {
      args.addAll(List.of("--port", Integer.toString(port)));
    }
    tracing = TracingAgent.start(args.toArray(String[]::new));
    upstream = PeerProcess.server(tmp, upstreamPort, PeerProcess.PYTHON, server, Integer.toString(upstreamPort));
    nginx = PeerProcess.server(tmp, nginxPort, "/usr/sbin/nginx", "-e", tmp + "/error.log", "-c", conf.toString(),
        "-p", tmp.toString());
    c = PeerProcess.server(tmp, cPort, PeerProcess.PYTHON, server, Integer.toString(cPort));
    b = PeerProcess.server(tmp, bPort, PeerProcess.PYTHON, server, Integer.toString(bPort), Integer.toString(cPort));
    a = PeerProcess.server(tmp, aPort, PeerProcess.PYTHON, server, Integer.toString(aPort), Integer.toString(bPort));
  }

  @BeforeEach
  void forgetEarlierSpans() {
    tracing.receiver.clear();
  }

  @AfterAll
  void stop() {
    PeerProcess.closeAll(a, b, c, nginx, upstream, tracing);
  }

  @Test
  void twentyClientsThroughNginxGetNoWrongParent() throws Exception {
    PeerProcess.Ran clients = runClients(nginxPort, "/n");
    List<Long> pids = new ArrayList<>(nginx.pids());
    pids.add(clients.pid());
    pids.add(upstream.pid());
    List<ReceivedSpan> spans = RequestChain.collect(tracing, pids, 4 * CLIENTS * REQUESTS_PER_CLIENT);
    RequestChain chains = RequestChain.of(tracing, spans, paths("/n"),
        Hop.of("client CLIENT", SpanKind.SPAN_KIND_CLIENT, List.of(clients.pid())),
        Hop.of("nginx SERVER", SpanKind.SPAN_KIND_SERVER, nginx.pids()),
        Hop.of("nginx CLIENT", SpanKind.SPAN_KIND_CLIENT, nginx.pids()),
        Hop.of("python SERVER", SpanKind.SPAN_KIND_SERVER, List.of(upstream.pid())));
    LinkScore score = report("nginx", chains);

    String all = chains.description();
    assertThat(score.precision()).as("precision through nginx: " + score + " in" + all).isEqualTo(1.0);
    assertThat(score.recall()).as("recall through nginx: " + score + " in" + all)
        .isGreaterThanOrEqualTo(nginxMinRecall());
    // Between processes nothing is left to chance: every server span has its client's span as parent.
    assertThat(chains.roots(1)).as("nginx SERVER spans without a parent in" + all).isEmpty();
    assertThat(chains.roots(3)).as("python SERVER spans without a parent in" + all).isEmpty();
    // An upstream call left without a parent says why: nginx's thread had several requests in flight.
    assertThat(chains.roots(2)).allSatisfy(span -> assertThat(span.attributes().get(UNLINKED))
        .as("an nginx CLIENT span without a parent: " + span)
        .isIn(unlinkedReasons()));
    assertOnlyUnlinkedSaysSo(chains);
    tracing.assertNoKernelDrops();
  }

  @Test
  void twentyClientsThroughAThreadingServerChainGetNoWrongParent() throws Exception {
    PeerProcess.Ran clients = runClients(aPort, "/t");
    List<ReceivedSpan> spans = RequestChain.collect(tracing, List.of(clients.pid(), a.pid(), b.pid(), c.pid()),
        6 * CLIENTS * REQUESTS_PER_CLIENT);
    RequestChain chains = RequestChain.of(tracing, spans, paths("/t"),
        Hop.of("client CLIENT", SpanKind.SPAN_KIND_CLIENT, List.of(clients.pid())),
        Hop.of("A SERVER", SpanKind.SPAN_KIND_SERVER, List.of(a.pid())),
        Hop.of("A CLIENT", SpanKind.SPAN_KIND_CLIENT, List.of(a.pid())),
        Hop.of("B SERVER", SpanKind.SPAN_KIND_SERVER, List.of(b.pid())),
        Hop.of("B CLIENT", SpanKind.SPAN_KIND_CLIENT, List.of(b.pid())),
        Hop.of("C SERVER", SpanKind.SPAN_KIND_SERVER, List.of(c.pid())));
    LinkScore score = report("threading chain", chains);

    String all = chains.description();
    assertThat(score.precision()).as("precision through the chain: " + score + " in" + all).isEqualTo(1.0);
    assertThat(score.recall()).as("recall through the chain: " + score + " in" + all)
        .isGreaterThanOrEqualTo(CHAIN_MIN_RECALL);
    assertOnlyUnlinkedSaysSo(chains);
    tracing.assertNoKernelDrops();
  }

  private PeerProcess.Ran runClients(int port, String prefix) throws Exception {
    PeerProcess.Ran clients = PeerProcess.runWithPid(tmp, PeerProcess.PYTHON, client, Integer.toString(port), prefix,
        Integer.toString(CLIENTS), Integer.toString(REQUESTS_PER_CLIENT));
    assertThat(clients.output().strip()).isEqualTo("ok " + CLIENTS * REQUESTS_PER_CLIENT);
    return clients;
  }

  private static List<String> paths(String prefix) {
    List<String> paths = new ArrayList<>();
    for (int i = 0; i < CLIENTS; i++) {
      for (int j = 0; j < REQUESTS_PER_CLIENT; j++) {
        paths.add(prefix + "/c" + i + "/r" + j);
      }
    }
    return paths;
  }

  /** Prints the scores, overall and per hop, for the test report. */
  private LinkScore report(String scenario, RequestChain chains) {
    LinkScore score = chains.score();
    StringBuilder line = new StringBuilder("linking" + (options().isEmpty() ? "" : " " + options()) + " through "
        + scenario + ", " + CLIENTS + " clients x "
        + REQUESTS_PER_CLIENT + " requests: " + score);
    for (int hop = 1; hop < chains.hops().size(); hop++) {
      line.append("; ").append(chains.hops().get(hop)).append(": ").append(chains.score(hop));
    }
    System.out.println(line);
    return score;
  }

  /**
   * Every client span is a root (the clients serve nothing) with no reason to give; every span with
   * a parent has no reason to give either.
   */
  private static void assertOnlyUnlinkedSaysSo(RequestChain chains) {
    assertThat(chains.roots(0)).as("client spans that are roots").hasSize(CLIENTS * REQUESTS_PER_CLIENT)
        .allSatisfy(span -> assertThat(span.attributes()).as("a client span: " + span).doesNotContainKey(UNLINKED));
    assertThat(chains.withParent()).allSatisfy(span -> assertThat(span.attributes())
        .as("a span with a parent: " + span).doesNotContainKey(UNLINKED));
  }
}
