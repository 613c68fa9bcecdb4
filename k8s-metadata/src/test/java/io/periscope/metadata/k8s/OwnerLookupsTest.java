package io.periscope.metadata.k8s;

import static io.periscope.metadata.k8s.KubernetesMetadataTest.await;
import static org.assertj.core.api.Assertions.assertThat;

import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.client.KubernetesClientException;
import io.periscope.metadata.k8s.OwnerLookups.Key;
import io.periscope.metadata.k8s.OwnerLookups.Lookup;
import io.periscope.metadata.k8s.OwnerLookups.State;
import io.periscope.metadata.k8s.PodMetadata.Owner;
import java.util.Set;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

class OwnerLookupsTest {
  private static final Key RS = new Key(WorkloadKind.REPLICASET, "shop", "orders-7d4b9c");

  private final ScheduledExecutorService timer = Executors.newSingleThreadScheduledExecutor();
  private final ExecutorService fetcher = Executors.newSingleThreadExecutor();
  private final AtomicInteger changes = new AtomicInteger();
  private final ApiProblems problems = new ApiProblems("https://api.example:6443/");

  @AfterEach
  void stop() {
    timer.shutdownNow();
    fetcher.shutdownNow();
  }

  private OwnerLookups lookups(OwnerLookups.OwnerSource source) {
    return new OwnerLookups(source, timer, fetcher, changes::incrementAndGet, problems);
  }

  private static HasMetadata ownedByDeployment() {
    return ClusterObjects.replicaSet("shop", "orders-7d4b9c", "orders");
  }

  @Test
  void aHangingApiServerHoldsANewPodBackTwoSecondsAtMost() throws Exception {
    CountDownLatch release = new CountDownLatch(1);
    OwnerLookups lookups = lookups(key -> {
      try {
        release.await();
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
      return ownedByDeployment();
    });
    long start = System.nanoTime();
    assertThat(lookups.lookup(RS).state()).isEqualTo(State.PENDING);
    await("given up waiting", () -> lookups.lookup(RS).state() == State.UNAVAILABLE);
    assertThat((System.nanoTime() - start) / 1_000_000).isBetween(OwnerLookups.PENDING_MILLIS - 100, 5_000L);
    assertThat(changes.get()).isEqualTo(1);

    release.countDown(); // the API server answers after all
    await("known", () -> lookups.lookup(RS).state() == State.KNOWN);
    assertThat(lookups.lookup(RS).owner()).isEqualTo(new Owner("Deployment", "orders"));
    assertThat(changes.get()).isEqualTo(2);
  }

  @Test
  void aFailedFetchIsRetriedAndReportedOnce() {
    AtomicInteger calls = new AtomicInteger();
    OwnerLookups lookups = lookups(key -> {
      if (calls.incrementAndGet() <= 2) {
        throw new KubernetesClientException("connect timed out");
      }
      return ownedByDeployment();
    });
    lookups.lookup(RS);
    // 1 s, then 2 s later: the third call answers.
    await("known after retries", () -> lookups.lookup(RS).equals(new Lookup(State.KNOWN, new Owner("Deployment", "orders"))));
    assertThat(calls.get()).isEqualTo(3);
    assertThat(problems.failures()).isEqualTo(2);
  }

  @Test
  void goneOrOwnerlessObjectsEndTheWalkAndForgottenOnesAreNotFetched() throws Exception {
    AtomicInteger calls = new AtomicInteger();
    OwnerLookups lookups = lookups(key -> {
      calls.incrementAndGet();
      return null; // 404
    });
    lookups.lookup(RS);
    await("known", () -> lookups.lookup(RS).state() == State.KNOWN);
    assertThat(lookups.lookup(RS).owner()).isNull();

    lookups.retainOnly(Set.of());
    assertThat(lookups.size()).isZero();
    assertThat(calls.get()).isEqualTo(1);
  }
}
