package io.periscope.agent.it;

import static org.assertj.core.api.Assertions.assertThat;

import io.opentelemetry.proto.trace.v1.Span.SpanKind;
import io.periscope.agent.testing.ReceivedSpan;
import io.periscope.bpf.BpfException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * With injection on, the connections traced processes open sit in a sockhash, which changes how
 * the kernel receives on them. On some stable kernels since 6.6.128, 6.12.75 and 6.18.14 it then
 * answers {@code ioctl(FIONREAD)} from the sockmap's own receive queue, empty without a verdict
 * program: 0 bytes readable on a socket full of answer, and programs that size their reads by it
 * (Java's {@code InputStream.available()} is one) stall or see a closed connection. The agent asks
 * the kernel at startup and refuses injection there unless told to inject anyway. Measured: this
 * host's 6.18.44 says 0; Debian's 6.1.0-57 and 6.12.118, in the kernel matrix, count right.
 */
@Tag("kernel")
public class InjectedSocketsTest {
  /** Where, in the kernel matrix's report directory, this test says what injection did on the kernel. */
  public static final String REPORT = "injection.txt";
  private static final int FIONREAD_PORT = 18_641;
  private static final int DETACH_PORT = 18_642;
  private static final Pattern SUMMARY = Pattern.compile("requests (\\d+) injected (\\d+)");
  private static final int ANSWER_BYTES = 48 * 1024;

  @TempDir
  Path tmp;

  /**
   * Either the agent refuses, and injecting anyway proves it right (such a program then sees 0),
   * or it injects, and such a program reads every answer: on every kernel one of the two holds,
   * and which one is the kernel's answer, not the test's.
   */
  @Test
  void injectionIsRefusedExactlyWhereProgramsThatReadByFionreadWouldStall() throws Exception {
    String echo = script("echo_server.py");
    String client = script("keepalive_client.py");
    String port = Integer.toString(FIONREAD_PORT);
    try (PeerProcess server = PeerProcess.server(tmp, FIONREAD_PORT, PeerProcess.PYTHON, echo, port)) {
      TracingAgent tracing;
      try {
        tracing = TracingAgent.start("--port", port, "--inject-traceparent");
      } catch (BpfException refused) {
        assertThat(refused).hasMessageStartingWith("traceparent injection (--inject-traceparent) refused: kernel "
            + System.getProperty("os.version") + " answers ioctl(FIONREAD) with 0 on connections in a sockhash")
            .hasMessageEndingWith("; turn injection off, or set --inject-despite-fionread to inject anyway");
        try (TracingAgent despite = TracingAgent.start("--port", port, "--inject-traceparent",
            "--inject-despite-fionread")) {
          String said = PeerProcess.run(tmp, 1, PeerProcess.PYTHON, client, port, "3", "fionread");
          assertThat(said).contains("FIONREAD said 0 on a readable socket with");
        }
        report("only with --inject-despite-fionread (FIONREAD says 0 on its sockets)");
        return;
      }
      try (tracing) {
        // Exits 1, saying so, the first time FIONREAD says 0 on a readable socket.
        PeerProcess.Ran ran = PeerProcess.runWithPid(tmp, PeerProcess.PYTHON, client, port, "3", "fionread");
        Matcher summary = SUMMARY.matcher(ran.output());
        assertThat(summary.find()).as(ran.output()).isTrue();
        int requests = Integer.parseInt(summary.group(1));
        // Every request got a traceparent: sk_msg ran on every send, the socket was in the sockhash.
        assertThat(requests).isPositive();
        assertThat(Integer.parseInt(summary.group(2))).as(ran.output()).isEqualTo(requests);
        List<ReceivedSpan> spans = tracing.awaitSpans(List.of(ran.pid()), requests);
        assertThat(spans).hasSize(requests)
            .allSatisfy(s -> assertThat(s.kind()).isEqualTo(SpanKind.SPAN_KIND_CLIENT));
        tracing.assertNoKernelDrops();
      }
      report("yes");
    }
  }

  private static void report(String injection) throws IOException {
    String dir = System.getProperty("periscope.report.dir");
    if (dir != null) {
      Files.writeString(Path.of(dir, REPORT), injection + "\n");
    }
  }

  /**
   * An answer that arrived while the agent ran, left unread until it stopped: when the sockhash
   * goes, its sockets leave the sockmap, and what waited must not go with them (it would, from a
   * verdict program's queue: why FIONREAD is not mended with one, docs/design-notes.md).
   */
  @Test
  void bytesWaitingWhenTheAgentStopsStillReachTheProgram() throws Exception {
    Files.write(tmp.resolve("answer.bin"), new byte[ANSWER_BYTES]);
    Path go = tmp.resolve("go");
    String port = Integer.toString(DETACH_PORT);
    try (PeerProcess server = PeerProcess.server(tmp, DETACH_PORT, PeerProcess.PYTHON, "-m", "http.server",
        "--bind", "127.0.0.1", port)) {
      PeerProcess reader;
      try (TracingAgent tracing = TracingAgent.start("--port", port, "--inject-traceparent",
          "--inject-despite-fionread")) {
        reader = PeerProcess.start(tmp, PeerProcess.PYTHON, script("late_reader.py"), port, "/answer.bin",
            go.toString());
        reader.awaitOutput("asked", Duration.ofSeconds(20));
        // The server's span ends when its last write returned: the whole answer is in the reader's socket.
        tracing.awaitSpans(server.pids(), 1);
      }
      Files.writeString(go, "");
      assertThat(reader.awaitExit(Duration.ofSeconds(30))).as(reader.output()).isZero();
      assertThat(reader.output()).contains("body " + ANSWER_BYTES + " bytes");
    }
  }

  private String script(String name) throws Exception {
    return Path.of(getClass().getResource(name).toURI()).toString();
  }
}
