package io.periscope.metadata;

import static io.periscope.metadata.IncubatingAttributes.PROCESS_COMMAND;
import static io.periscope.metadata.IncubatingAttributes.PROCESS_EXECUTABLE_NAME;
import static io.periscope.metadata.IncubatingAttributes.PROCESS_EXECUTABLE_PATH;
import static io.periscope.metadata.IncubatingAttributes.PROCESS_PID;
import static io.opentelemetry.semconv.ServiceAttributes.SERVICE_NAME;
import static org.assertj.core.api.Assertions.assertThat;

import io.opentelemetry.sdk.resources.Resource;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

/** Against the machine's own /proc: this JVM, the surefire fork. */
class RealProcTest {

  @Test
  void describesThisJvm() {
    int pid = Math.toIntExact(ProcessHandle.current().pid());
    ProcessResources resources = ProcessResources.create();

    Resource resource = resources.resolve(pid, "main");

    // The fork runs "java ... -jar surefirebooter-*.jar" or "java ... <main class>".
    assertThat(resource.getAttribute(SERVICE_NAME)).isNotBlank().isNotEqualTo("main");
    assertThat(resource.getAttribute(PROCESS_PID)).isEqualTo(pid);
    assertThat(resource.getAttribute(PROCESS_EXECUTABLE_NAME)).isEqualTo("java");
    assertThat(Path.of(resource.getAttribute(PROCESS_EXECUTABLE_PATH)))
        .isEqualTo(Path.of(ProcessHandle.current().info().command().orElseThrow()));
    assertThat(resource.getAttribute(PROCESS_COMMAND)).endsWith("java");
    assertThat(resources.hostName()).isNotBlank();
    assertThat(resources.readFailures()).isZero();
  }
}
