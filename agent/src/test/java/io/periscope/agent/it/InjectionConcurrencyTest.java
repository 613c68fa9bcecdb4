package io.periscope.agent.it;

import java.util.List;
import org.junit.jupiter.api.Tag;

/**
 * The concurrency scenarios of {@link LinkingConcurrencyTest} with {@code --inject-traceparent}:
 * every request then carries a traceparent the kernel wrote, its trace chosen from syscalls before
 * the agent saw anything. No span may have a wrong parent; an nginx upstream call the kernel put in
 * another trace than the linking here says so. Measured: precision and recall 1.0 through both.
 */
@Tag("kernel")
class InjectionConcurrencyTest extends LinkingConcurrencyTest {
  @Override
  int ports() {
    return 19_380;
  }

  @Override
  List<String> options() {
    return List.of("--inject-traceparent", "--inject-despite-fionread");
  }

  /**
   * nginx passes each request's traceparent (the one the kernel wrote for its client) on upstream,
   * which names the request each upstream call is for: every span is linked.
   */
  @Override
  double nginxMinRecall() {
    return 1.0;
  }

  @Override
  List<String> unlinkedReasons() {
    return List.of("concurrent_requests_on_thread", "injected_into_another_trace");
  }
}
