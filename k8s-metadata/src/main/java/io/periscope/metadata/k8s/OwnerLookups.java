package io.periscope.metadata.k8s;

import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.OwnerReference;
import io.periscope.metadata.k8s.ApiProblems.Access;
import io.periscope.metadata.k8s.PodMetadata.Owner;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executor;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import org.jspecify.annotations.Nullable;

/**
 * The owners of the ReplicaSets and Jobs that own pods on this node, fetched by name when a pod
 * first needs them and kept while a pod on this node still refers to them: the second step of the
 * owner walk (ReplicaSet -> Deployment, Job -> CronJob) without watching every ReplicaSet and Job
 * of the cluster, so memory and API load follow this node's pods, not the cluster's size. An
 * object's owner references do not change once a controller created it, so nothing is re-read.
 *
 * <p>Fetches run one at a time on their own executor (a fetch can block for as long as the API
 * client retries); the timer only waits and hands work over, so a hanging fetch delays neither
 * the {@link #PENDING_MILLIS} bound nor anything else on the timer. A failed fetch is retried with backoff
 * ({@link #FIRST_RETRY_MILLIS} doubling to {@link #MAX_RETRY_MILLIS}; a forbidden one every
 * {@link #FORBIDDEN_RETRY_MILLIS}); a fetch that has not answered after {@link #PENDING_MILLIS}
 * is reported as unavailable, so a slow API server delays a new pod's attributes by that much at
 * most. Every change of state calls {@code onChange}.
 */
final class OwnerLookups {

  static final long PENDING_MILLIS = 2_000;
  static final long FIRST_RETRY_MILLIS = 1_000;
  static final long MAX_RETRY_MILLIS = 60_000;
  static final long FORBIDDEN_RETRY_MILLIS = 300_000;

  /** A ReplicaSet or a Job, by name. */
  record Key(WorkloadKind kind, String namespace, String name) {}

  /** Reads one object: null when it does not exist; throws what the API client throws on failure. */
  @FunctionalInterface
  interface OwnerSource {
    @Nullable HasMetadata get(Key key);
  }

  enum State {
    /** Being fetched for the first time: the pod waits (at most {@link #PENDING_MILLIS}). */
    PENDING,
    /** Fetched: {@link Lookup#owner()} is its controller, or null when it has none (or is gone). */
    KNOWN,
    /** Could not be fetched (yet): the walk stops here. */
    UNAVAILABLE
  }

  record Lookup(State state, @Nullable Owner owner) {
    static final Lookup PENDING = new Lookup(State.PENDING, null);
    static final Lookup UNAVAILABLE = new Lookup(State.UNAVAILABLE, null);
  }

  private final OwnerSource source;
  private final ScheduledExecutorService timer;
  private final Executor fetcher;
  private final Runnable onChange;
  private final ApiProblems problems;
  private final Map<Key, Lookup> lookups = new ConcurrentHashMap<>();

  OwnerLookups(OwnerSource source, ScheduledExecutorService timer, Executor fetcher, Runnable onChange,
      ApiProblems problems) {
    this.source = source;
    this.timer = timer;
    this.fetcher = fetcher;
    this.onChange = onChange;
    this.problems = problems;
  }

  /** What is known of this object now; the first call for a key starts fetching it. Never blocks. */
  Lookup lookup(Key key) {
    Lookup known = lookups.get(key);
    if (known != null) {
      return known;
    }
    if (lookups.putIfAbsent(key, Lookup.PENDING) == null) {
      fetchLater(key, FIRST_RETRY_MILLIS, 0);
      schedule(() -> {
        if (lookups.replace(key, Lookup.PENDING, Lookup.UNAVAILABLE)) {
          onChange.run();
        }
      }, PENDING_MILLIS);
    }
    return lookups.getOrDefault(key, Lookup.PENDING);
  }

  /** Forgets every object no pod on this node refers to any more (and stops retrying them). */
  void retainOnly(Set<Key> referenced) {
    lookups.keySet().retainAll(referenced);
  }

  /** Objects held, fetched or not. */
  int size() {
    return lookups.size();
  }

  private void fetch(Key key, long nextRetryMillis) {
    if (!lookups.containsKey(key)) {
      return; // no pod refers to it any more
    }
    Access access = key.kind() == WorkloadKind.JOB ? Access.JOBS : Access.REPLICASETS;
    Lookup result;
    try {
      HasMetadata object = source.get(key);
      result = new Lookup(State.KNOWN, object == null ? null : controller(object));
      problems.recovered(access);
    } catch (RuntimeException e) {
      if (ApiProblems.isNotFound(e)) {
        result = new Lookup(State.KNOWN, null);
      } else {
        problems.failed(access, e);
        boolean forbidden = ApiProblems.isForbidden(e);
        long delay = forbidden ? FORBIDDEN_RETRY_MILLIS : nextRetryMillis;
        fetchLater(key, Math.min(nextRetryMillis * 2, MAX_RETRY_MILLIS), delay);
        result = Lookup.UNAVAILABLE;
      }
    }
    Lookup stored = result;
    if (lookups.computeIfPresent(key, (k, old) -> stored) != null) {
      onChange.run();
    }
  }

  private static @Nullable Owner controller(HasMetadata object) {
    List<OwnerReference> references = object.getMetadata() == null ? null : object.getMetadata().getOwnerReferences();
    if (references == null) {
      return null;
    }
    for (OwnerReference reference : references) {
      if (Boolean.TRUE.equals(reference.getController()) && reference.getKind() != null && reference.getName() != null) {
        return new Owner(reference.getKind(), reference.getName());
      }
    }
    return null;
  }

  private void fetchLater(Key key, long nextRetryMillis, long delayMillis) {
    schedule(() -> {
      try {
        fetcher.execute(() -> fetch(key, nextRetryMillis));
      } catch (RejectedExecutionException closing) {
        // the agent is stopping
      }
    }, delayMillis);
  }

  private void schedule(Runnable task, long delayMillis) {
    try {
      timer.schedule(task, delayMillis, TimeUnit.MILLISECONDS);
    } catch (RejectedExecutionException closing) {
      // the agent is stopping
    }
  }
}
