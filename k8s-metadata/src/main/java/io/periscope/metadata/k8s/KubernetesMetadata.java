package io.periscope.metadata.k8s;

import static java.util.Objects.requireNonNull;

import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientBuilder;
import io.fabric8.kubernetes.client.informers.ResourceEventHandler;
import io.fabric8.kubernetes.client.informers.SharedIndexInformer;
import io.fabric8.kubernetes.client.informers.cache.ReducedStateItemStore;
import io.fabric8.kubernetes.client.jdkhttp.JdkHttpClientFactory;
import io.opentelemetry.api.common.Attributes;
import io.periscope.metadata.PeerNames;
import io.periscope.metadata.ProcessResources;
import io.periscope.metadata.ResourceResolver;
import io.periscope.metadata.k8s.ApiProblems.Access;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import java.util.logging.Logger;
import org.jspecify.annotations.Nullable;

/**
 * Kubernetes metadata for the processes of one node: two shared informers, the pods on this node
 * (field selector {@code spec.nodeName=<node>}) and every Service (their cluster IPs only), plus
 * owner lookups by name for the ReplicaSets and Jobs those pods belong to. What is held follows
 * this node's pods and the cluster's Services, never the cluster's pods.
 *
 * <p>{@link #start} returns at once: the informers list and watch in the background, retrying with
 * backoff (up to 32 s apart) for as long as the API server does not answer or refuses, so tracing
 * never waits for it. Until the pods are listed, spans carry their process attributes (and
 * container id); once they are, the next span of each process carries its pod's. A broken watch is
 * re-established, and a relist replaces what changed meanwhile. Each kind of failure is logged
 * once ({@link ApiProblems}).
 *
 * <p>The caller owns the instance and must {@link #close()} it: that stops the informers, the
 * background thread and the API client.
 */
public final class KubernetesMetadata implements AutoCloseable {

  /** How often processes that exited are looked for and forgotten. */
  static final Duration SWEEP_INTERVAL = Duration.ofSeconds(10);
  private static final Logger logger = Logger.getLogger("io.periscope.metadata.kubernetes");

  private final KubernetesClient client;
  private final String nodeName;
  private final ExecutorService clientTasks;
  private final ScheduledExecutorService background;
  private final ExecutorService ownerFetches;
  private final ApiProblems problems;
  private final NodePods pods;
  private final ServiceAddresses services = new ServiceAddresses();
  private final KubernetesResources resources;
  private final SharedIndexInformer<Pod> podInformer;
  private final SharedIndexInformer<Service> serviceInformer;
  private final CompletableFuture<Void> podsListed;
  private final CompletableFuture<Void> servicesListed;
  private volatile boolean closed;

  private KubernetesMetadata(KubernetesClient client, ExecutorService clientTasks, String nodeName,
      ProcessResources processes, Path procRoot, Attributes configured) {
    this.client = client;
    this.clientTasks = clientTasks;
    this.nodeName = nodeName;
    this.problems = new ApiProblems(client.getMasterUrl().toString());
    this.background = daemonScheduler();
    this.ownerFetches = Executors.newSingleThreadExecutor(Thread.ofPlatform().name("periscope-k8s-owners").daemon()
        .factory());
    this.pods = new NodePods(nodeName);
    this.pods.owners(new OwnerLookups(this::getOwner, background, ownerFetches, pods::rebuild, problems));
    this.resources = new KubernetesResources(processes, pods::view, procRoot, nodeName, configured,
        ProcessResources.DEFAULT_MAX_ENTRIES);

    this.podInformer = client.pods().inAnyNamespace().withField("spec.nodeName", nodeName).runnableInformer(0);
    this.podInformer.exceptionHandler((started, t) -> retry(Access.PODS, t));
    this.podInformer.addEventHandler(handler(Access.PODS, pods::upsert, pods::delete));

    // Only what naming a peer needs is kept of each Service: a cluster has many more of them than a node has pods.
    this.serviceInformer = client.services().inAnyNamespace().runnableInformer(0)
        .removeNamespaceIndex()
        .itemStore(new ReducedStateItemStore<>(ReducedStateItemStore.NAME_KEY_STATE, Service.class,
            client.getKubernetesSerialization(), "spec.clusterIP", "spec.clusterIPs"));
    this.serviceInformer.exceptionHandler((started, t) -> retry(Access.SERVICES, t));
    this.serviceInformer.addEventHandler(new ResourceEventHandler<>() {
      @Override
      public void onAdd(Service service) {
        services.upsert(null, service);
      }

      @Override
      public void onUpdate(Service old, Service service) {
        services.upsert(old, service);
      }

      @Override
      public void onDelete(Service service, boolean finalStateUnknown) {
        services.delete(service);
      }

      @Override
      public void onList(String resourceVersion, boolean wasEmpty) {
        problems.recovered(Access.SERVICES);
      }
    });

    this.podsListed = podInformer.start().toCompletableFuture();
    this.servicesListed = serviceInformer.start().toCompletableFuture();
    podsListed.thenRun(() -> logger.info("kubernetes: " + pods.size() + " pods on node " + nodeName
        + " listed; spans carry their attributes from now on"));
    servicesListed.thenRun(() -> logger.info("kubernetes: " + services.size() + " service addresses listed"));
    background.scheduleWithFixedDelay(this::sweep, SWEEP_INTERVAL.toMillis(), SWEEP_INTERVAL.toMillis(),
        TimeUnit.MILLISECONDS);
  }

  /** Connects to the API server as {@code access} says and starts watching; returns at once. */
  public static KubernetesMetadata start(ClusterAccess access, ProcessResources processes, Path procRoot,
      Attributes configured) {
    requireNonNull(access.nodeName(), "access.nodeName");
    ExecutorService tasks = daemonPool();
    KubernetesClient client = new KubernetesClientBuilder()
        .withConfig(access.clientConfig())
        .withHttpClientFactory(new JdkHttpClientFactory())
        .withTaskExecutor(tasks)
        .build();
    return start(client, tasks, access.nodeName(), processes, procRoot, configured);
  }

  /** With a client made by the caller (tests: the mock API server's); {@code clientTasks} is shut down on close. */
  static KubernetesMetadata start(KubernetesClient client, ExecutorService clientTasks, String nodeName,
      ProcessResources processes, Path procRoot, Attributes configured) {
    try {
      return new KubernetesMetadata(client, clientTasks, nodeName, processes, procRoot, configured);
    } catch (RuntimeException e) {
      client.close();
      clientTasks.shutdownNow();
      throw e;
    }
  }

  /** The resource of each process: process attributes, and its pod's when it runs in one. */
  public ResourceResolver resources() {
    return resources;
  }

  /** Pod IPs of this node's pods to pod names; Service cluster IPs to {@code <service>.<namespace>}. */
  public PeerNames peers() {
    return address -> {
      String pod = pods.view().podNames().get(address);
      return pod != null ? pod : services.nameOf(address);
    };
  }

  public String nodeName() {
    return nodeName;
  }

  public String apiServer() {
    return client.getMasterUrl().toString();
  }

  /** True once the pods on this node have been listed (and so are in every span from then on). */
  public boolean podsListed() {
    return podsListed.isDone() && !podsListed.isCompletedExceptionally();
  }

  /** True once the Services have been listed. */
  public boolean servicesListed() {
    return servicesListed.isDone() && !servicesListed.isCompletedExceptionally();
  }

  /**
   * What is held and what was lost, for the agent's counters.
   *
   * @param pods                 pods on this node held
   * @param serviceAddresses     Service cluster IPs known
   * @param processes            processes whose container is known
   * @param processesEvictedFull processes forgotten because the cache was full (they are read again)
   * @param apiFailures          failed API calls, every retry included
   */
  public record Stats(int pods, int serviceAddresses, int processes, long processesEvictedFull, long apiFailures) {}

  public Stats stats() {
    return new Stats(pods.size(), services.size(), resources.size(), resources.evictedFull(), problems.failures());
  }

  /** Pods the informer holds: this node's, whatever the cluster's size. */
  int podsHeld() {
    return podInformer.getStore().list().size();
  }

  /** Pods in the index the spans are enriched from. */
  int podsIndexed() {
    return pods.size();
  }

  /** ReplicaSets and Jobs held for owner walks: only those this node's pods belong to. */
  int ownersHeld() {
    return pods.ownersHeld();
  }

  int servicesHeld() {
    return serviceInformer.getStore().list().size();
  }

  int serviceAddresses() {
    return services.size();
  }

  NodeView view() {
    return pods.view();
  }

  KubernetesResources processes() {
    return resources;
  }

  ApiProblems problems() {
    return problems;
  }

  @Override
  public void close() {
    closed = true;
    podInformer.stop();
    serviceInformer.stop();
    background.shutdownNow();
    ownerFetches.shutdownNow();
    client.close();
    clientTasks.shutdownNow();
  }

  private void sweep() {
    try {
      resources.sweep();
    } catch (RuntimeException e) {
      logger.warning("kubernetes: forgetting exited processes failed: " + e);
    }
  }

  /** The informers' exception handler: report once, and always try again (RBAC may be granted later). */
  private boolean retry(Access access, Throwable t) {
    if (closed) {
      return false; // a request cut short by close(): nothing to report
    }
    problems.failed(access, t);
    return true;
  }

  private <T> ResourceEventHandler<T> handler(Access access, Consumer<T> upsert, Consumer<T> delete) {
    return new ResourceEventHandler<>() {
      @Override
      public void onAdd(T object) {
        upsert.accept(object);
      }

      @Override
      public void onUpdate(T old, T object) {
        upsert.accept(object);
      }

      @Override
      public void onDelete(T object, boolean finalStateUnknown) {
        delete.accept(object);
      }

      @Override
      public void onList(String resourceVersion, boolean wasEmpty) {
        problems.recovered(access);
      }
    };
  }

  private @Nullable HasMetadata getOwner(OwnerLookups.Key key) {
    return switch (key.kind()) {
      case REPLICASET -> client.apps().replicaSets().inNamespace(key.namespace()).withName(key.name()).get();
      case JOB -> client.batch().v1().jobs().inNamespace(key.namespace()).withName(key.name()).get();
      default -> null;
    };
  }

  private static ScheduledExecutorService daemonScheduler() {
    ScheduledThreadPoolExecutor executor = new ScheduledThreadPoolExecutor(1,
        Thread.ofPlatform().name("periscope-k8s").daemon().factory());
    executor.setRemoveOnCancelPolicy(true);
    return executor;
  }

  static ExecutorService daemonPool() {
    return Executors.newCachedThreadPool(Thread.ofPlatform().name("periscope-k8s-client-", 0).daemon().factory());
  }
}
