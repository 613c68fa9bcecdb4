package io.periscope.metadata.k8s;

import static io.periscope.metadata.k8s.KubernetesAttributes.CONTAINER_ID;
import static io.periscope.metadata.k8s.KubernetesAttributes.K8S_NODE_NAME;
import static java.util.Objects.requireNonNull;

import io.opentelemetry.api.common.Attributes;
import io.opentelemetry.api.common.AttributesBuilder;
import io.opentelemetry.sdk.resources.Resource;
import io.opentelemetry.semconv.SchemaUrls;
import io.periscope.metadata.ProcessResources;
import io.periscope.metadata.ResourceResolver;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.FileSystemException;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.LongAdder;
import java.util.function.Supplier;
import java.util.logging.Level;
import java.util.logging.Logger;
import org.jspecify.annotations.Nullable;

/**
 * The resource of a process on a Kubernetes node: its process resource ({@link ProcessResources}),
 * plus {@code k8s.node.name}, plus, for a process in a container, {@code container.id} and the
 * attributes of its pod and container. Configured attributes ({@code OTEL_RESOURCE_ATTRIBUTES})
 * still win over everything.
 *
 * <p>Each process's container is read once from {@code <proc root>/<pid>/cgroup} and kept, with
 * the process's start time, until {@link #sweep()} finds the process gone or its pid reused; at
 * most {@code maxEntries} processes are kept (least recently used go first, counted). The merged
 * resource is kept too and built again only when the node's pods or the process resource changed,
 * so a span costs two map lookups and two identity checks. Never blocks on the API server, never
 * throws.
 *
 * <p>A process that exited before its cgroup could be read (a {@code curl} that is gone a
 * millisecond after its response) is placed by the local address of its connection instead: a pod
 * IP belongs to one pod's network namespace, so the process was in that pod (its container is
 * known when the pod has only one). Loopback and host-network addresses place nothing.
 */
final class KubernetesResources implements ResourceResolver {

  private static final Logger logger = Logger.getLogger(KubernetesResources.class.getName());
  private static final int MAX_CGROUP_BYTES = 64 * 1024;
  private static final int MAX_STAT_BYTES = 4096;
  /** Field 22 of /proc/<pid>/stat, counted from the state (field 3) that follows the command's ')'. */
  private static final int START_TIME_AFTER_COMM = 22 - 3;

  /**
   * @param inspected whether the process's cgroup file was read (it was running); when not, the
   *                  local address of its connection places it in a pod, if any
   */
  private record Held(long startTime, boolean inspected, @Nullable ContainerCgroup cgroup, Resource process,
      NodeView view, @Nullable InetAddress localAddress, Resource resource) {}

  private final ProcessResources processes;
  private final Supplier<NodeView> views;
  private final Path procRoot;
  private final Attributes node;
  private final Resource configured;
  private final Map<Integer, Held> entries;
  private final LongAdder evictedFull = new LongAdder();
  private final LongAdder evictedExited = new LongAdder();
  private final LongAdder readFailures = new LongAdder();
  private final AtomicBoolean warned = new AtomicBoolean();

  KubernetesResources(ProcessResources processes, Supplier<NodeView> views, Path procRoot, String nodeName,
      Attributes configured, int maxEntries) {
    this.processes = processes;
    this.views = views;
    this.procRoot = procRoot;
    this.node = Attributes.of(K8S_NODE_NAME, nodeName);
    this.configured = Resource.create(configured);
    this.entries = new LinkedHashMap<>(16, 0.75f, true) {
      @Override
      protected boolean removeEldestEntry(Map.Entry<Integer, Held> eldest) {
        if (size() > maxEntries) {
          evictedFull.increment();
          return true;
        }
        return false;
      }
    };
  }

  @Override
  public Resource resolve(int pid, String comm) {
    return resolve(pid, comm, null);
  }

  /**
   * @param localAddress the local address of the event's connection: for a process that exited
   *                     before its cgroup could be read (a one-shot client), a pod IP places it in
   *                     that pod; null when not known
   */
  @Override
  public Resource resolve(int pid, String comm, @Nullable InetAddress localAddress) {
    requireNonNull(comm, "comm");
    Resource process = processes.resolve(pid, comm);
    NodeView view = views.get();
    Held entry;
    synchronized (this) {
      entry = entries.get(pid);
    }
    if (entry != null && entry.process() == process && entry.view() == view
        && (entry.inspected() || Objects.equals(entry.localAddress(), localAddress))) {
      return entry.resource();
    }
    long startTime;
    ContainerCgroup cgroup;
    boolean inspected;
    if (entry != null) {
      startTime = entry.startTime();
      cgroup = entry.cgroup();
      inspected = entry.inspected();
    } else {
      startTime = startTime(pid);
      Cgroup read = cgroup(pid);
      cgroup = read.container();
      inspected = read.read();
    }
    Attributes attributes = inspected ? attributes(cgroup, view) : attributesByAddress(localAddress, view);
    Resource resource = process.merge(Resource.create(attributes, SchemaUrls.V1_37_0)).merge(configured);
    synchronized (this) {
      entries.put(pid, new Held(startTime, inspected, cgroup, process, view, localAddress, resource));
    }
    return resource;
  }

  /** A process never inspected: the pod whose IP its connection is on, else the node alone. */
  private Attributes attributesByAddress(@Nullable InetAddress localAddress, NodeView view) {
    Attributes pod = localAddress == null ? null : view.byPodIp().get(localAddress);
    return pod == null ? node : node.toBuilder().putAll(pod).build();
  }

  private Attributes attributes(@Nullable ContainerCgroup cgroup, NodeView view) {
    if (cgroup == null) {
      return node;
    }
    AttributesBuilder attributes = node.toBuilder();
    if (cgroup.containerId() != null) {
      attributes.put(CONTAINER_ID, cgroup.containerId());
    }
    Attributes pod = view.attributesOf(cgroup);
    if (pod != null) {
      attributes.putAll(pod);
    }
    return attributes.build();
  }

  /**
   * Forgets the processes that exited or whose pid now belongs to another process (its start time
   * changed), here and in the process resources. Reads one small file per process held.
   */
  void sweep() {
    List<Map.Entry<Integer, Long>> held = new ArrayList<>();
    synchronized (this) {
      entries.forEach((pid, entry) -> held.add(Map.entry(pid, entry.startTime())));
    }
    for (Map.Entry<Integer, Long> pid : held) {
      long now = startTime(pid.getKey());
      if (now < 0 || now != pid.getValue()) {
        synchronized (this) {
          entries.remove(pid.getKey());
        }
        processes.evict(pid.getKey());
        evictedExited.increment();
      }
    }
  }

  synchronized int size() {
    return entries.size();
  }

  /** Processes forgotten because the cache was full, and because they exited (or their pid was reused). */
  long evictedFull() {
    return evictedFull.sum();
  }

  long evictedExited() {
    return evictedExited.sum();
  }

  /** Reads of the proc filesystem that failed other than because the process is gone. */
  long readFailures() {
    return readFailures.sum();
  }

  /** What a cgroup file said: {@code read} false when it could not be read (the process is gone). */
  private record Cgroup(boolean read, @Nullable ContainerCgroup container) {}

  private Cgroup cgroup(int pid) {
    Path file = procRoot.resolve(pid + "/cgroup");
    try {
      return new Cgroup(true,
          ContainerCgroup.parse(new String(readAtMost(file, MAX_CGROUP_BYTES), StandardCharsets.UTF_8)));
    } catch (IOException e) {
      failed(file, e);
      return new Cgroup(false, null);
    }
  }

  /** The process's start time in clock ticks since boot, or -1 when it is gone (or unreadable). */
  private long startTime(int pid) {
    Path file = procRoot.resolve(pid + "/stat");
    try {
      String stat = new String(readAtMost(file, MAX_STAT_BYTES), StandardCharsets.US_ASCII);
      // The command name in parentheses may itself hold spaces and ')': the last ')' ends it.
      String[] fields = stat.substring(stat.lastIndexOf(')') + 1).strip().split(" ");
      return fields.length > START_TIME_AFTER_COMM ? Long.parseLong(fields[START_TIME_AFTER_COMM]) : -1;
    } catch (IOException e) {
      failed(file, e);
      return -1;
    } catch (NumberFormatException | IndexOutOfBoundsException e) {
      return -1;
    }
  }

  private void failed(Path file, IOException e) {
    if (e instanceof NoSuchFileException
        || (e instanceof FileSystemException f && "No such process".equals(f.getReason()))) {
      return; // the process is gone: as normal as can be
    }
    readFailures.increment();
    if (warned.compareAndSet(false, true)) {
      logger.warning("read " + file + ": " + e + " (further failures are logged at FINE and counted)");
    } else if (logger.isLoggable(Level.FINE)) {
      logger.fine("read " + file + ": " + e);
    }
  }

  private static byte[] readAtMost(Path file, int limit) throws IOException {
    try (InputStream in = Files.newInputStream(file)) {
      return in.readNBytes(limit);
    }
  }
}
