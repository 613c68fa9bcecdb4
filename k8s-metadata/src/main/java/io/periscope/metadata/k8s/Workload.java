package io.periscope.metadata.k8s;

import java.util.Collections;
import java.util.EnumMap;
import java.util.Map;
import org.jspecify.annotations.Nullable;

/**
 * Where a pod's owner walk led: a name for each controller kind on the way, e.g. ReplicaSet
 * {@code orders-7d4b9c} and Deployment {@code orders}, or Job {@code backup-2897} and CronJob
 * {@code backup}. Empty for a bare or static pod.
 */
record Workload(Map<WorkloadKind, String> names) {

  static final Workload NONE = new Workload(Map.of());

  Workload {
    EnumMap<WorkloadKind, String> copy = new EnumMap<>(WorkloadKind.class);
    copy.putAll(names);
    names = Collections.unmodifiableMap(copy);
  }

  static Workload of(WorkloadKind kind, String name) {
    return new Workload(Map.of(kind, name));
  }

  Workload with(WorkloadKind kind, String name) {
    EnumMap<WorkloadKind, String> more = new EnumMap<>(WorkloadKind.class);
    more.putAll(names);
    more.put(kind, name);
    return new Workload(more);
  }

  /** The name of the kind first in {@link WorkloadKind}'s order: the topmost controller. */
  @Nullable String topName() {
    for (WorkloadKind kind : WorkloadKind.values()) {
      String name = names.get(kind);
      if (name != null) {
        return name;
      }
    }
    return null;
  }
}
