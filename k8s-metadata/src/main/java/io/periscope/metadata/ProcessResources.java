package io.periscope.metadata;

import static io.periscope.metadata.IncubatingAttributes.HOST_NAME;
import static io.periscope.metadata.IncubatingAttributes.PROCESS_COMMAND;
import static io.periscope.metadata.IncubatingAttributes.PROCESS_EXECUTABLE_NAME;
import static io.periscope.metadata.IncubatingAttributes.PROCESS_EXECUTABLE_PATH;
import static io.periscope.metadata.IncubatingAttributes.PROCESS_PID;
import static java.util.Objects.requireNonNull;

import io.opentelemetry.api.common.Attributes;
import io.opentelemetry.api.common.AttributesBuilder;
import io.opentelemetry.sdk.resources.Resource;
import io.opentelemetry.semconv.SchemaUrls;
import io.opentelemetry.semconv.ServiceAttributes;
import io.opentelemetry.semconv.TelemetryAttributes;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.AccessDeniedException;
import java.nio.file.Files;
import java.nio.file.FileSystemException;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.LongAdder;
import java.util.function.LongSupplier;
import java.util.logging.Level;
import java.util.logging.Logger;
import org.jspecify.annotations.Nullable;

/**
 * The resource of a process on this host, read from the proc filesystem: {@code service.name}
 * (see {@link ServiceNames}), {@code process.pid}, {@code process.executable.name},
 * {@code process.executable.path} (when {@code exe} is readable), {@code process.command}
 * ({@code argv[0]}'s first word) and {@code host.name}. The full command line is never reported:
 * arguments can hold secrets.
 *
 * <p>Configured attributes ({@code OTEL_RESOURCE_ATTRIBUTES}) are added to every resource and win
 * over detected ones; a configured service name ({@code OTEL_SERVICE_NAME}) wins over both.
 *
 * <p>Resources are cached per pid, at most {@link #DEFAULT_MAX_ENTRIES} by default (least recently
 * used go first), for {@link #DEFAULT_TTL} so that a pid the kernel hands to a new process is read
 * again; a process that is already gone gets a resource from its {@code comm} alone, cached for
 * {@link #DEFAULT_EXITED_TTL}. Reading never throws: failures are logged (the first one as a
 * warning) and counted in {@link #readFailures()}. Thread-safe.
 */
public final class ProcessResources implements ResourceResolver {
  /** This agent's version (the jar's), as telemetry.sdk.version; "dev" when not run from a jar. */
  private static final String AGENT_VERSION = ProcessResources.class.getPackage().getImplementationVersion() != null
      ? ProcessResources.class.getPackage().getImplementationVersion() : "dev";


  public static final Path DEFAULT_PROC_ROOT = Path.of("/proc");
  public static final int DEFAULT_MAX_ENTRIES = 4096;
  public static final Duration DEFAULT_TTL = Duration.ofSeconds(60);
  public static final Duration DEFAULT_EXITED_TTL = Duration.ofSeconds(5);

  /**
   * Longest command line read. The kernel allows a few MiB; service naming needs the first words,
   * but a long class path can push a Java main class far in.
   */
  static final int MAX_CMDLINE_BYTES = 1 << 20;

  private static final Logger logger = Logger.getLogger(ProcessResources.class.getName());
  private static final int MAX_SMALL_FILE_BYTES = 256;

  private final Path procRoot;
  private final long ttlNanos;
  private final long exitedTtlNanos;
  private final LongSupplier nanoTime;
  private final @Nullable String hostName;
  private final Attributes configured;
  private final ExpiringLruCache<Integer, Resource> cache;
  private final LongAdder readFailures = new LongAdder();
  private final AtomicBoolean warned = new AtomicBoolean();

  ProcessResources(Path procRoot, int maxEntries, Duration ttl, Duration exitedTtl, LongSupplier nanoTime,
      @Nullable String hostName, Attributes configured) {
    this.procRoot = procRoot;
    this.ttlNanos = ttl.toNanos();
    this.exitedTtlNanos = exitedTtl.toNanos();
    this.nanoTime = nanoTime;
    this.configured = configured;
    this.cache = new ExpiringLruCache<>(maxEntries);
    this.hostName = hostName != null ? hostName : detectHostName();
  }

  /** Reads {@link #DEFAULT_PROC_ROOT} with the default cache, no configured attributes. */
  public static ProcessResources create() {
    return builder().build();
  }

  public static ProcessResourcesBuilder builder() {
    return new ProcessResourcesBuilder();
  }

  @Override
  public Resource resolve(int pid, String comm) {
    requireNonNull(comm, "comm");
    Resource cached = cache.get(pid, nanoTime.getAsLong());
    if (cached != null) {
      return cached;
    }
    Path process = procRoot.resolve(Integer.toString(pid));
    List<String> argv;
    try {
      argv = parseCmdline(readAtMost(process.resolve("cmdline"), MAX_CMDLINE_BYTES));
    } catch (NoSuchFileException gone) {
      Resource resource = resourceOf(pid, List.of(), null, comm);
      cache.put(pid, resource, nanoTime.getAsLong() + exitedTtlNanos);
      return resource;
    } catch (IOException e) {
      failed("read " + process.resolve("cmdline"), e);
      argv = List.of();
    }
    Resource resource = resourceOf(pid, argv, executablePath(process), processComm(process, comm));
    cache.put(pid, resource, nanoTime.getAsLong() + ttlNanos);
    return resource;
  }

  /**
   * Forgets the cached resource of a pid, so the next {@link #resolve} reads it again: for a
   * process that called exec or exited.
   */
  public void evict(int pid) {
    cache.remove(pid);
  }

  /**
   * Reads of the proc filesystem that failed other than because the process or its executable is gone
   * (permissions, a file of the wrong kind), since construction.
   */
  public long readFailures() {
    return readFailures.sum();
  }

  /** The {@code host.name} put on every resource, or null when neither source had one. */
  public @Nullable String hostName() {
    return hostName;
  }

  private Resource resourceOf(int pid, List<String> argv, @Nullable String executablePath, String comm) {
    AttributesBuilder attributes = Attributes.builder()
        .put(ServiceAttributes.SERVICE_NAME, ServiceNames.fromCommandLine(argv, comm))
        .put(PROCESS_PID, pid);
    String executableName = executablePath != null ? ServiceNames.baseName(executablePath) : comm;
    if (!executableName.isEmpty()) {
      attributes.put(PROCESS_EXECUTABLE_NAME, executableName);
    }
    if (executablePath != null) {
      attributes.put(PROCESS_EXECUTABLE_PATH, executablePath);
    }
    String command = argv.isEmpty() ? "" : commandName(argv.getFirst());
    if (!command.isEmpty()) {
      attributes.put(PROCESS_COMMAND, command);
    }
    if (hostName != null) {
      attributes.put(HOST_NAME, hostName);
    }
    // The resource conventions require the SDK that made the telemetry: the agent, whatever
    // language the traced process is written in.
    attributes.put(TelemetryAttributes.TELEMETRY_SDK_NAME, "periscope");
    attributes.put(TelemetryAttributes.TELEMETRY_SDK_LANGUAGE, TelemetryAttributes.TelemetrySdkLanguageValues.JAVA);
    attributes.put(TelemetryAttributes.TELEMETRY_SDK_VERSION, AGENT_VERSION);
    attributes.putAll(configured);
    return Resource.create(attributes.build(), SchemaUrls.V1_37_0);
  }

  /**
   * {@code argv[0]} up to its first blank: a program that writes a title over its arguments puts
   * them all in {@code argv[0]} (postgres shows user, database and client there), and this attribute
   * must not carry the command line.
   */
  private static String commandName(String argv0) {
    String[] words = argv0.strip().split("\\s+", 2);
    String first = words[0];
    return words.length > 1 && first.endsWith(":") ? first.substring(0, first.length() - 1) : first;
  }

  /** The target of {@code exe}, or null when it cannot be read (another user's process, a kernel thread). */
  private @Nullable String executablePath(Path process) {
    Path exe = process.resolve("exe");
    try {
      String target = Files.readSymbolicLink(exe).toString();
      // The kernel marks an executable that was replaced or removed since the process started.
      return target.endsWith(" (deleted)") ? target.substring(0, target.length() - " (deleted)".length()) : target;
    } catch (NoSuchFileException e) {
      return null; // kernel threads and zombies have no executable
    } catch (IOException e) {
      String hint = e instanceof AccessDeniedException ? " (another user's process needs CAP_SYS_PTRACE)" : "";
      failed("read link " + exe + hint, e);
      return null;
    }
  }

  /**
   * The process's own {@code comm} (its main thread's), else the one the kernel reported: that one
   * is the name of whichever thread made the call, which Java and others set per thread.
   */
  private String processComm(Path process, String reported) {
    try {
      String comm = new String(readAtMost(process.resolve("comm"), MAX_SMALL_FILE_BYTES), StandardCharsets.UTF_8)
          .strip();
      return comm.isEmpty() ? reported : comm;
    } catch (NoSuchFileException e) {
      return reported;
    } catch (IOException e) {
      failed("read " + process.resolve("comm"), e);
      return reported;
    }
  }

  /**
   * {@code sys/kernel/hostname} under the proc root, else the JDK's idea of the local host. The file
   * shows the UTS namespace of the <em>reader</em>: in a pod that does not share the host's (no
   * {@code hostNetwork}), it is the pod's name, so a DaemonSet should pass the node's name instead.
   */
  private @Nullable String detectHostName() {
    Path file = procRoot.resolve("sys/kernel/hostname");
    try {
      String name = new String(readAtMost(file, MAX_SMALL_FILE_BYTES), StandardCharsets.UTF_8).strip();
      if (!name.isEmpty()) {
        return name;
      }
    } catch (NoSuchFileException e) {
      // not a Linux proc filesystem: fall through
    } catch (IOException e) {
      failed("read " + file, e);
    }
    try {
      String name = InetAddress.getLocalHost().getHostName();
      return name.isEmpty() ? null : name;
    } catch (IOException e) {
      logger.log(Level.WARNING, "host name unknown, host.name is left out: " + e.getMessage());
      return null;
    }
  }

  private void failed(String what, IOException e) {
    if (e instanceof FileSystemException f && "No such process".equals(f.getReason())) {
      return; // it exited between open and read: as normal as a missing entry
    }
    readFailures.increment();
    if (warned.compareAndSet(false, true)) {
      logger.logp(Level.WARNING, ProcessResources.class.getName(), "resolve",
          what + ": " + e + " (further failures are logged at FINE and counted)");
    } else if (logger.isLoggable(Level.FINE)) {
      logger.logp(Level.FINE, ProcessResources.class.getName(), "resolve", what + ": " + e);
    }
  }

  private static byte[] readAtMost(Path file, int limit) throws IOException {
    try (InputStream in = Files.newInputStream(file)) {
      return in.readNBytes(limit);
    }
  }

  /** NUL-separated arguments; the NULs a program leaves after overwriting its arguments are not arguments. */
  static List<String> parseCmdline(byte[] cmdline) {
    int end = cmdline.length;
    while (end > 0 && cmdline[end - 1] == 0) {
      end--;
    }
    List<String> argv = new ArrayList<>();
    int start = 0;
    for (int i = 0; i <= end; i++) {
      if (i == end || cmdline[i] == 0) {
        if (end > 0) {
          argv.add(new String(cmdline, start, i - start, StandardCharsets.UTF_8));
        }
        start = i + 1;
      }
    }
    return List.copyOf(argv);
  }
}
