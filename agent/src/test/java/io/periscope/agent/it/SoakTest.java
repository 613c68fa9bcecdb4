package io.periscope.agent.it;

import static org.assertj.core.api.Assertions.assertThat;

import io.periscope.agent.testing.OtlpReceiver;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Issue 19, "Soak": the agent under churn, sampled. nginx serves HTTP/1 and HTTP/2 (h2c); the load
 * opens and closes about 10,000 connections a minute: one-shot HTTP/1 requests, keep-alive
 * connections replaced every 50 requests, and curl processes that start, make two HTTP/2
 * requests on one connection and exit. Every sample takes the agent's resident memory, file
 * descriptors, threads, and from {@code /metrics} the connections it tracks and the spans waiting
 * for export. After the warm-up (the first third), none may grow past its bound: what leaks
 * shows as growth, however slow.
 *
 * <p>CI runs it for 2 minutes, sampled every 10 s. {@code bench/soak} runs it for hours
 * ({@code -Dperiscope.soak.seconds}, {@code -Dperiscope.soak.sampleSeconds}) and, with {@code
 * -Dperiscope.soak.out=DIR}, writes the samples (CSV) and their plot (PNG) there.
 */
@Tag("kernel")
class SoakTest {
  private static final int PORT = 18_650;
  private static final int H2_PORT = 18_651;
  private static final int HEALTH_PORT = 18_652;
  private static final Duration RUN = Duration.ofSeconds(Long.getLong("periscope.soak.seconds", 120));
  private static final Duration SAMPLE = Duration.ofSeconds(Long.getLong("periscope.soak.sampleSeconds", 10));
  /** One-shot HTTP/1 connections a second: with the rest, about 10,000 connections a minute. */
  private static final int ONE_SHOTS_PER_SECOND = 150;
  private static final int KEEP_ALIVE_CONNECTIONS = 4;
  private static final int REQUESTS_PER_KEEP_ALIVE = 50;
  private static final int CURLS_PER_SECOND = 10;

  /** Bounds after the warm-up: what may move (GC, a busy second), not what a leak grows to. */
  private static final double RSS_GROWTH_MB = 24;
  private static final int FD_SPREAD = 8;
  private static final int THREAD_SPREAD = 4;
  private static final long CONNECTIONS_OPEN_MAX = 1_000;
  private static final Path JVM_OPTIONS = Path.of("..", "deploy", "dist", "jvm.options").toAbsolutePath().normalize();

  @TempDir
  Path tmp;

  /** One sample of the agent. */
  record Sample(double minutes, double rssMb, int fds, int threads, long connectionsOpen, long exportQueue,
      long spans, long requests) {
    static String header() {
      return "minutes,rss_mb,fds,threads,connections_open,export_queue,spans,requests";
    }

    String csv() {
      return "%.2f,%.1f,%d,%d,%d,%d,%d,%d".formatted(minutes, rssMb, fds, threads, connectionsOpen, exportQueue, spans,
          requests);
    }
  }

  @Test
  void underChurnTheAgentsMemoryDescriptorsThreadsAndTablesStayFlat() throws Exception {
    Path conf = tmp.resolve("nginx.conf");
    Files.writeString(conf, """
        daemon off;
        master_process on;
        worker_processes 1;
        user root;
        pid %1$s/nginx.pid;
        error_log %1$s/error.log;
        events { worker_connections 4096; }
        http {
          access_log off;
          keepalive_requests 1000;
          client_body_temp_path %1$s/client_body;
          proxy_temp_path %1$s/proxy;
          fastcgi_temp_path %1$s/fastcgi;
          uwsgi_temp_path %1$s/uwsgi;
          scgi_temp_path %1$s/scgi;
          server {
            listen 127.0.0.1:%2$d;
            listen 127.0.0.1:%3$d http2;
            location / { return 200 "ok\\n"; }
          }
        }
        """.formatted(tmp, PORT, H2_PORT));
    List<Sample> samples = new ArrayList<>();
    AtomicBoolean running = new AtomicBoolean(true);
    AtomicLong requests = new AtomicLong();
    try (PeerProcess nginx = PeerProcess.server(tmp, PORT, "/usr/sbin/nginx", "-e", tmp + "/error.log", "-c",
            conf.toString(), "-p", tmp.toString());
        OtlpReceiver receiver = OtlpReceiver.start();
        // With the JVM options the launchers give it: the footprint measured is the one users get.
        AgentProcess agent = AgentProcess.start(List.of(AgentProcess.java(), "@" + JVM_OPTIONS, "-cp",
            System.getProperty("java.class.path"), "io.periscope.agent.Main", "--otlp-endpoint", receiver.endpoint(),
            "--port", Integer.toString(PORT), "--port", Integer.toString(H2_PORT),
            "--health-address", "127.0.0.1:" + HEALTH_PORT), Map.of(), tmp);
        ExecutorService load = Executors.newVirtualThreadPerTaskExecutor();
        HttpClient metrics = HttpClient.newHttpClient()) {
      agent.awaitStdout(AgentProcess.SUMMARY, Duration.ofSeconds(30));
      try {
        sample(agent, receiver, metrics, load, running, requests, samples);
      } finally {
        running.set(false);
        load.shutdown();
      }
    }
    write(samples);
    assertFlat(samples);
  }

  /** Starts the load, and samples the agent every {@link #SAMPLE} until {@link #RUN} is over. */
  private static void sample(AgentProcess agent, OtlpReceiver receiver, HttpClient metrics, ExecutorService load,
      AtomicBoolean running, AtomicLong requests, List<Sample> samples) throws Exception {
    load.submit(() -> paced(running, ONE_SHOTS_PER_SECOND, () -> oneShot(requests)));
    for (int i = 0; i < KEEP_ALIVE_CONNECTIONS; i++) {
      load.submit(() -> paced(running, 50, new KeepAlive(requests)));
    }
    load.submit(() -> paced(running, CURLS_PER_SECOND, () -> curlHttp2(requests)));

    long start = System.nanoTime();
    for (long next = start + SAMPLE.toNanos(); next <= start + RUN.toNanos(); next += SAMPLE.toNanos()) {
      Thread.sleep(Math.max(0, (next - System.nanoTime()) / 1_000_000));
      assertThat(ProcessHandle.of(agent.pid()).map(ProcessHandle::isAlive)).as("the agent runs").contains(true);
      String text = metrics.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + HEALTH_PORT + "/metrics"))
          .build(), HttpResponse.BodyHandlers.ofString()).body();
      int spans = receiver.spans().size();
      receiver.clear();
      samples.add(new Sample((System.nanoTime() - start) / 60e9, rssMb(agent.pid()), count("/proc/" + agent.pid() + "/fd"),
          count("/proc/" + agent.pid() + "/task"), metric(text, "periscope_connections_open"),
          metric(text, "periscope_export_queue_spans"), spans, requests.getAndSet(0)));
      System.err.println("soak: " + samples.getLast());
    }
  }

  private static void assertFlat(List<Sample> samples) {
    List<Sample> settled = samples.subList(samples.size() / 3, samples.size());
    Sample warm = settled.getFirst();
    assertThat(settled).as("every sample after the warm-up saw requests made and spans exported")
        .allSatisfy(s -> {
          assertThat(s.requests).isPositive();
          assertThat(s.spans).isPositive();
        });
    assertThat(settled).as("resident memory after the warm-up (%.1f MB then)", warm.rssMb)
        .allSatisfy(s -> assertThat(s.rssMb - warm.rssMb).isLessThanOrEqualTo(RSS_GROWTH_MB));
    assertThat(spread(settled.stream().map(s -> (long) s.fds))).as("file descriptors' spread").isLessThanOrEqualTo(FD_SPREAD);
    assertThat(spread(settled.stream().map(s -> (long) s.threads))).as("threads' spread").isLessThanOrEqualTo(THREAD_SPREAD);
    assertThat(samples).as("connections tracked: the closed ones go")
        .allSatisfy(s -> assertThat(s.connectionsOpen).isLessThanOrEqualTo(CONNECTIONS_OPEN_MAX));
  }

  /** Runs {@code task} {@code perSecond} times a second (as far as it keeps up) until stopped. */
  private static void paced(AtomicBoolean running, int perSecond, Task task) {
    long interval = 1_000_000_000L / perSecond;
    long next = System.nanoTime();
    while (running.get()) {
      try {
        task.run();
      } catch (IOException | InterruptedException e) {
        // a refused or cut connection under churn: the next one is tried
      }
      next += interval;
      long wait = next - System.nanoTime();
      if (wait > 0) {
        try {
          Thread.sleep(Duration.ofNanos(wait));
        } catch (InterruptedException e) {
          return;
        }
      } else {
        next = System.nanoTime(); // behind: no burst to catch up
      }
    }
  }

  interface Task {
    void run() throws IOException, InterruptedException;
  }

  private static final byte[] ONE_SHOT = "GET /once HTTP/1.1\r\nHost: soak\r\nConnection: close\r\n\r\n"
      .getBytes(StandardCharsets.US_ASCII);
  private static final byte[] KEEP = "GET /kept HTTP/1.1\r\nHost: soak\r\n\r\n".getBytes(StandardCharsets.US_ASCII);

  private static void oneShot(AtomicLong requests) throws IOException {
    try (Socket socket = new Socket()) {
      socket.connect(new InetSocketAddress("127.0.0.1", PORT), 2_000);
      socket.setSoTimeout(2_000);
      socket.getOutputStream().write(ONE_SHOT);
      socket.getInputStream().readAllBytes();
      requests.incrementAndGet();
    }
  }

  /** A keep-alive connection, replaced after {@link #REQUESTS_PER_KEEP_ALIVE} requests. */
  private static final class KeepAlive implements Task {
    private final AtomicLong requests;
    private Socket socket;
    private int made;

    KeepAlive(AtomicLong requests) {
      this.requests = requests;
    }

    @Override
    public void run() throws IOException {
      if (socket == null || made == REQUESTS_PER_KEEP_ALIVE) {
        if (socket != null) {
          socket.close();
        }
        socket = new Socket();
        socket.connect(new InetSocketAddress("127.0.0.1", PORT), 2_000);
        socket.setSoTimeout(2_000);
        made = 0;
      }
      try {
        socket.getOutputStream().write(KEEP);
        readResponse(socket.getInputStream());
        made++;
        requests.incrementAndGet();
      } catch (IOException e) {
        socket.close();
        socket = null;
        throw e;
      }
    }
  }

  /** Reads one response to the end of its head, then its Content-Length body. */
  private static void readResponse(InputStream in) throws IOException {
    StringBuilder head = new StringBuilder();
    while (!head.toString().endsWith("\r\n\r\n")) {
      int b = in.read();
      if (b < 0) {
        throw new IOException("connection closed in a response head");
      }
      head.append((char) b);
    }
    Matcher length = Pattern.compile("(?i)content-length: (\\d+)").matcher(head);
    in.readNBytes(length.find() ? Integer.parseInt(length.group(1)) : 0);
  }

  /** A process that starts, makes two HTTP/2 requests on one connection, and exits. */
  private static void curlHttp2(AtomicLong requests) throws IOException, InterruptedException {
    Process curl = new ProcessBuilder("/usr/bin/curl", "-sS", "--http2-prior-knowledge", "-o", "/dev/null", "-o",
        "/dev/null", "http://127.0.0.1:" + H2_PORT + "/h2/a", "http://127.0.0.1:" + H2_PORT + "/h2/b")
        .redirectErrorStream(true).start();
    try (OutputStream ignored = curl.getOutputStream()) {
      curl.getInputStream().readAllBytes();
    }
    if (curl.waitFor() == 0) {
      requests.addAndGet(2);
    }
  }

  private static double rssMb(long pid) throws IOException {
    for (String line : Files.readAllLines(Path.of("/proc/" + pid + "/status"))) {
      if (line.startsWith("VmRSS:")) {
        return Long.parseLong(line.split("\\s+")[1]) / 1024.0;
      }
    }
    throw new AssertionError("no VmRSS for " + pid);
  }

  private static int count(String dir) throws IOException {
    try (Stream<Path> entries = Files.list(Path.of(dir))) {
      return (int) entries.count();
    }
  }

  private static long metric(String text, String name) {
    Matcher m = Pattern.compile("(?m)^" + name + "(?:\\{[^}]*\\})? (\\d+)").matcher(text);
    assertThat(m.find()).as("%s on /metrics", name).isTrue();
    return Long.parseLong(m.group(1));
  }

  private static long spread(Stream<Long> values) {
    List<Long> all = values.toList();
    return all.stream().mapToLong(Long::longValue).max().orElse(0) - all.stream().mapToLong(Long::longValue).min().orElse(0);
  }

  /** The samples as CSV, in target/ always, and with their plot where -Dperiscope.soak.out says. */
  private static void write(List<Sample> samples) throws IOException {
    List<String> lines = new ArrayList<>(List.of(Sample.header()));
    samples.forEach(s -> lines.add(s.csv()));
    Path reports = Path.of(System.getProperty("periscope.report.dir", "target"));
    Files.createDirectories(reports);
    Files.write(reports.resolve("soak.csv"), lines);
    String out = System.getProperty("periscope.soak.out");
    if (out != null) {
      Path dir = Files.createDirectories(Path.of(out));
      Files.write(dir.resolve("soak.csv"), lines);
      SoakPlot.write(samples, dir.resolve("soak.png"));
    }
  }
}
