package io.periscope.metadata.k8s;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * {@code /proc/<pid>/cgroup} as each runtime and cgroup driver writes it. The files are whole, as
 * read from nodes: cgroup v1 files list every hierarchy, hybrid hosts add the v2 {@code 0::} line.
 */
class ContainerCgroupTest {
  private static final String ID = "3f4c1d0b2a9e8f7d6c5b4a39281706f5e4d3c2b1a0f9e8d7c6b5a4938271605f";
  private static final String UID = "8b3a6c1e-2f4d-4a61-9c0e-7d5b2e1f3a90";
  private static final String UID_ = UID.replace('-', '_');

  private static ContainerCgroup parse(String file) {
    return ContainerCgroup.parse(file);
  }

  @Test
  void containerdSystemdCgroupV2() {
    // EKS (AL2023), GKE, kubeadm on a systemd host with cgroup v2.
    assertThat(parse("0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + UID_
        + ".slice/cri-containerd-" + ID + ".scope\n"))
        .isEqualTo(new ContainerCgroup(ID, UID));
  }

  @Test
  void containerdSystemdCgroupV1() {
    String file = """
        12:hugetlb:/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod%1$s.slice/cri-containerd-%2$s.scope
        11:memory:/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod%1$s.slice/cri-containerd-%2$s.scope
        10:cpu,cpuacct:/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod%1$s.slice/cri-containerd-%2$s.scope
        1:name=systemd:/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod%1$s.slice/cri-containerd-%2$s.scope
        0::/
        """.formatted(UID_, ID);
    assertThat(parse(file)).isEqualTo(new ContainerCgroup(ID, UID));
  }

  @Test
  void containerdCgroupfsCgroupV2() {
    // k3s and other cgroupfs-driver nodes.
    assertThat(parse("0::/kubepods/besteffort/pod" + UID + "/" + ID + "\n")).isEqualTo(new ContainerCgroup(ID, UID));
  }

  @Test
  void cgroupfsCgroupV1GuaranteedQos() {
    // Guaranteed pods sit directly under kubepods, with no QoS class level.
    String file = """
        11:devices:/kubepods/pod%1$s/%2$s
        4:memory:/kubepods/pod%1$s/%2$s
        1:name=systemd:/kubepods/pod%1$s/%2$s
        """.formatted(UID, ID);
    assertThat(parse(file)).isEqualTo(new ContainerCgroup(ID, UID));
  }

  @Test
  void systemdGuaranteedQos() {
    assertThat(parse("0::/kubepods.slice/kubepods-pod" + UID_ + ".slice/cri-containerd-" + ID + ".scope"))
        .isEqualTo(new ContainerCgroup(ID, UID));
  }

  @Test
  void crioSystemdCgroupV1AndV2() {
    // OpenShift: CRI-O with the systemd driver.
    assertThat(parse("11:memory:/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + UID_
        + ".slice/crio-" + ID + ".scope\n"))
        .isEqualTo(new ContainerCgroup(ID, UID));
    assertThat(parse("0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + UID_
        + ".slice/crio-" + ID + ".scope\n"))
        .isEqualTo(new ContainerCgroup(ID, UID));
  }

  @Test
  void crioMonitorIsNotTheContainer() {
    assertThat(parse("0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + UID_
        + ".slice/crio-conmon-" + ID + ".scope\n")).isNull();
  }

  @Test
  void dockershimSystemdAndCgroupfs() {
    // Kubernetes before 1.24 with Docker as its runtime.
    assertThat(parse("9:memory:/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + UID_
        + ".slice/docker-" + ID + ".scope\n"))
        .isEqualTo(new ContainerCgroup(ID, UID));
    assertThat(parse("9:memory:/kubepods/burstable/pod" + UID + "/" + ID + "\n"))
        .isEqualTo(new ContainerCgroup(ID, UID));
  }

  @Test
  void plainDockerNamesTheContainerButNoPod() {
    String v1 = """
        12:perf_event:/docker/%1$s
        4:memory:/docker/%1$s
        1:name=systemd:/docker/%1$s
        """.formatted(ID);
    assertThat(parse(v1)).isEqualTo(new ContainerCgroup(ID, null));
    assertThat(parse("0::/system.slice/docker-" + ID + ".scope\n")).isEqualTo(new ContainerCgroup(ID, null));
    assertThat(parse("0::/machine.slice/libpod-" + ID + ".scope/container\n")).isEqualTo(new ContainerCgroup(ID, null));
  }

  @Test
  void kindNodeNestsKubeletSlices() {
    assertThat(parse("0::/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-besteffort.slice/"
        + "kubelet-kubepods-besteffort-pod" + UID_ + ".slice/cri-containerd-" + ID + ".scope\n"))
        .isEqualTo(new ContainerCgroup(ID, UID));
  }

  @Test
  void pathRelativeToTheReadersCgroupNamespace() {
    // An agent in a pod with its own cgroup namespace reading the host's /proc.
    assertThat(parse("0::/../../kubepods-besteffort-pod" + UID_ + ".slice/cri-containerd-" + ID + ".scope\n"))
        .isEqualTo(new ContainerCgroup(ID, UID));
  }

  @Test
  void cgroupBelowTheContainersOwn() {
    assertThat(parse("0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + UID_
        + ".slice/cri-containerd-" + ID + ".scope/init.scope\n"))
        .isEqualTo(new ContainerCgroup(ID, UID));
  }

  @Test
  void hybridHostWhereOnlyTheUnifiedLineNamesTheContainer() {
    // This build machine's layout: v1 hierarchies at the root, the process moved in cgroup v2 only.
    String file = """
        9:name=systemd:/
        8:pids:/
        4:memory:/process_api/2e865e707b20b71307be99eb2efdeef7
        1:cpu:/
        0::/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod%1$s.slice/cri-containerd-%2$s.scope
        """.formatted(UID_, ID);
    assertThat(parse(file)).isEqualTo(new ContainerCgroup(ID, UID));
  }

  @Test
  void processInThePodsCgroupButNoContainersNamesThePodOnly() {
    assertThat(parse("0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + UID_ + ".slice\n"))
        .isEqualTo(new ContainerCgroup(null, UID));
  }

  @ParameterizedTest
  @ValueSource(strings = {
      "0::/\n",
      "0::/init.scope\n",
      "0::/system.slice/containerd.service\n",
      "0::/system.slice/kubelet.service\n",
      "0::/user.slice/user-1000.slice/session-2.scope\n",
      "4:memory:/process_api/2e865e707b20b71307be99eb2efdeef7\n",
      "0::/kubepods.slice/kubepods-besteffort.slice\n",
      // not 64 hex digits, not a UUID
      "0::/kubepods/besteffort/podnot-a-uid/3f4c1d0b\n",
      "0::/docker/3F4C1D0B2A9E8F7D6C5B4A39281706F5E4D3C2B1A0F9E8D7C6B5A4938271605F\n",
      "",
      "garbage without colons\n"})
  void notAContainer(String file) {
    assertThat(parse(file)).isNull();
  }
}
