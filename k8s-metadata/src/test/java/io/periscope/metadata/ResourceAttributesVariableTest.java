package io.periscope.metadata;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatIllegalArgumentException;

import java.util.Map;
import org.junit.jupiter.api.Test;

class ResourceAttributesVariableTest {

  @Test
  void keyValuePairs() {
    assertThat(ResourceAttributesVariable.parse(" k8s.cluster.name = prod-eu ,deployment.environment.name=prod,,"))
        .containsExactly(Map.entry("k8s.cluster.name", "prod-eu"), Map.entry("deployment.environment.name", "prod"));
    assertThat(ResourceAttributesVariable.parse("")).isEmpty();
  }

  @Test
  void valuesArePercentDecoded() {
    assertThat(ResourceAttributesVariable.parse("team=a%2Cb,expr=x%3Dy,city=K%C3%B6ln,plus=a+b,empty="))
        .containsEntry("team", "a,b").containsEntry("expr", "x=y").containsEntry("city", "Köln")
        .containsEntry("plus", "a+b").containsEntry("empty", "");
  }

  @Test
  void mistakesNameTheEntry() {
    assertThatIllegalArgumentException().isThrownBy(() -> ResourceAttributesVariable.parse("a=1,oops"))
        .withMessageStartingWith("OTEL_RESOURCE_ATTRIBUTES: 'oops' is not key=value");
    assertThatIllegalArgumentException().isThrownBy(() -> ResourceAttributesVariable.parse("=1"))
        .withMessageStartingWith("OTEL_RESOURCE_ATTRIBUTES: '=1' is not key=value");
    assertThatIllegalArgumentException().isThrownBy(() -> ResourceAttributesVariable.parse("a=100%"))
        .withMessageContaining("'a=100%' has a '%' that is not followed by two hex digits");
  }
}
