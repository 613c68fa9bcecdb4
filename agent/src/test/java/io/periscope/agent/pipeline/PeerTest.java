package io.periscope.agent.pipeline;

import static org.assertj.core.api.Assertions.assertThat;

import java.net.InetAddress;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class PeerTest {

  @ParameterizedTest
  @CsvSource({
    "::1, ::1",
    "0:0:0:0:0:0:0:0, ::",
    "2001:db8:0:0:0:0:2:1, 2001:db8::2:1",
    "2001:db8:0:1:1:1:1:1, 2001:db8:0:1:1:1:1:1", // a single zero group is not shortened
    "2001:0:0:1:0:0:0:1, 2001:0:0:1::1", // the longer run wins
    "2001:db8:0:0:1:0:0:1, 2001:db8::1:0:0:1", // on a tie, the first
    "fe80:0:0:0:abcd:ef01:2345:6789, fe80::abcd:ef01:2345:6789",
    "2001:DB8:0:0:0:0:0:1, 2001:db8::1",
    "127.0.0.1, 127.0.0.1",
    "::ffff:10.1.2.3, 10.1.2.3", // v4-mapped (how the kernel reports IPv4): IPv4
  })
  void addressesAreWrittenInCanonicalForm(String address, String text) throws Exception {
    assertThat(Peer.text(InetAddress.getByName(address))).isEqualTo(text);
  }
}
