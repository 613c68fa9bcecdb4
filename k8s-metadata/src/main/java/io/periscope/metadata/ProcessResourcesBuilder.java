package io.periscope.metadata;

import static java.util.Objects.requireNonNull;

import io.opentelemetry.api.common.Attributes;
import io.opentelemetry.api.common.AttributesBuilder;
import io.opentelemetry.semconv.ServiceAttributes;
import java.nio.file.Path;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.function.LongSupplier;
import org.jspecify.annotations.Nullable;

/** Builds a {@link ProcessResources}. Setters check their argument and say what to fix. */
public final class ProcessResourcesBuilder {

  private Path procRoot = ProcessResources.DEFAULT_PROC_ROOT;
  private int maxEntries = ProcessResources.DEFAULT_MAX_ENTRIES;
  private Duration ttl = ProcessResources.DEFAULT_TTL;
  private Duration exitedTtl = ProcessResources.DEFAULT_EXITED_TTL;
  private LongSupplier nanoTime = System::nanoTime;
  private @Nullable String hostName;
  private @Nullable String serviceName;
  private Map<String, String> resourceAttributes = Map.of();

  ProcessResourcesBuilder() {}

  /**
   * Where the proc filesystem to read is mounted. Default {@link ProcessResources#DEFAULT_PROC_ROOT};
   * a DaemonSet mounts the host's at {@code /host/proc}.
   */
  public ProcessResourcesBuilder procRoot(Path procRoot) {
    this.procRoot = requireNonNull(procRoot, "procRoot");
    return this;
  }

  /** Most processes cached. Default {@link ProcessResources#DEFAULT_MAX_ENTRIES}. */
  public ProcessResourcesBuilder maxEntries(int maxEntries) {
    if (maxEntries < 1) {
      throw new IllegalArgumentException("maxEntries must be at least 1: " + maxEntries);
    }
    this.maxEntries = maxEntries;
    return this;
  }

  /**
   * How long a running process's resource is reused before its pid is read again (the kernel may
   * have given the pid to another process). Default {@link ProcessResources#DEFAULT_TTL}.
   */
  public ProcessResourcesBuilder ttl(Duration ttl) {
    requireNonNull(ttl, "ttl");
    if (ttl.isNegative() || ttl.isZero()) {
      throw new IllegalArgumentException("ttl must be positive: " + ttl);
    }
    this.ttl = ttl;
    return this;
  }

  /**
   * How long the resource of a process that was already gone is reused; zero does not keep it.
   * Default {@link ProcessResources#DEFAULT_EXITED_TTL}.
   */
  public ProcessResourcesBuilder exitedTtl(Duration exitedTtl) {
    requireNonNull(exitedTtl, "exitedTtl");
    if (exitedTtl.isNegative()) {
      throw new IllegalArgumentException("exitedTtl must not be negative: " + exitedTtl);
    }
    this.exitedTtl = exitedTtl;
    return this;
  }

  /**
   * The {@code host.name} of every resource, instead of reading {@code sys/kernel/hostname} under the
   * proc root (for a DaemonSet: the node's name from the downward API).
   */
  public ProcessResourcesBuilder hostName(String hostName) {
    requireNonNull(hostName, "hostName");
    if (hostName.isBlank()) {
      throw new IllegalArgumentException("hostName must not be blank");
    }
    this.hostName = hostName;
    return this;
  }

  /**
   * {@code OTEL_SERVICE_NAME}: the {@code service.name} of every process, over a {@code service.name}
   * in {@link #resourceAttributes} and over the detected one.
   */
  public ProcessResourcesBuilder serviceName(String serviceName) {
    requireNonNull(serviceName, "serviceName");
    if (serviceName.isBlank()) {
      throw new IllegalArgumentException("serviceName must not be blank (leave it unset to detect names)");
    }
    this.serviceName = serviceName;
    return this;
  }

  /**
   * {@code OTEL_RESOURCE_ATTRIBUTES}, already decoded: added to every resource, over detected
   * attributes of the same key (so a {@code service.name} here names every process).
   */
  public ProcessResourcesBuilder resourceAttributes(Map<String, String> resourceAttributes) {
    requireNonNull(resourceAttributes, "resourceAttributes");
    Map<String, String> copy = new LinkedHashMap<>();
    resourceAttributes.forEach((key, value) -> {
      if (key == null || key.isBlank()) {
        throw new IllegalArgumentException("resource attribute keys must not be blank: " + resourceAttributes);
      }
      if (value == null) {
        throw new IllegalArgumentException("resource attribute " + key + " has no value");
      }
      copy.put(key, value);
    });
    this.resourceAttributes = copy;
    return this;
  }

  /** The clock for cache expiry, {@link System#nanoTime()} unless a test controls it. */
  ProcessResourcesBuilder nanoTime(LongSupplier nanoTime) {
    this.nanoTime = requireNonNull(nanoTime, "nanoTime");
    return this;
  }

  /** Reads the host name now (once), unless one was given. */
  public ProcessResources build() {
    AttributesBuilder configured = Attributes.builder();
    resourceAttributes.forEach(configured::put);
    if (serviceName != null) {
      configured.put(ServiceAttributes.SERVICE_NAME, serviceName);
    }
    return new ProcessResources(procRoot, maxEntries, ttl, exitedTtl, nanoTime, hostName, configured.build());
  }
}
