package io.periscope.agent.span;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

class HostAndPortTest {

  @Test
  void namesAndAddressesWithAndWithoutPorts() {
    assertThat(HostAndPort.parse("example.com")).isEqualTo(new HostAndPort("example.com", 0));
    assertThat(HostAndPort.parse("example.com:8080")).isEqualTo(new HostAndPort("example.com", 8080));
    assertThat(HostAndPort.parse(" 127.0.0.1:18080 ")).isEqualTo(new HostAndPort("127.0.0.1", 18080));
    assertThat(HostAndPort.parse("[::1]")).isEqualTo(new HostAndPort("::1", 0));
    assertThat(HostAndPort.parse("[::1]:9000")).isEqualTo(new HostAndPort("::1", 9000));
    assertThat(HostAndPort.parse("[::1]:")).isEqualTo(new HostAndPort("::1", 0));
    assertThat(HostAndPort.parse("host:")).isEqualTo(new HostAndPort("host", 0));
    assertThat(HostAndPort.parse("host:65535")).isEqualTo(new HostAndPort("host", 65535));
  }

  @Test
  void userinfoIsNeverKept() {
    assertThat(HostAndPort.parse("user:secret@example.com:81")).isEqualTo(new HostAndPort("example.com", 81));
  }

  @Test
  void whatIsNoAuthority() {
    assertThat(HostAndPort.parse("")).isNull();
    assertThat(HostAndPort.parse(":80")).isNull();
    assertThat(HostAndPort.parse("[::1")).isNull();
    assertThat(HostAndPort.parse("host:8o")).isNull();
    assertThat(HostAndPort.parse("host:+80")).isNull();
    assertThat(HostAndPort.parse("host:65536")).isNull();
    assertThat(HostAndPort.parse("host:123456")).isNull();
  }

  @Test
  void recurringAuthoritiesShareTheirParse() {
    RecentParses<HostAndPort> authorities = new RecentParses<>(HostAndPort::parse);
    HostAndPort first = authorities.parse(new String("example.com:8080"));
    assertThat(authorities.parse(new String("example.com:8080"))).isSameAs(first);
    assertThat(authorities.parse("other.example:1")).isEqualTo(new HostAndPort("other.example", 1));
    assertThat(authorities.parse(":80")).isNull();
    assertThat(authorities.parse("example.com:8080")).isEqualTo(first);
  }
}
