#!/usr/bin/env bash
# Builds Periscope's container image from the checkout (deploy/Dockerfile) and hands it to k3s's
# containerd, so the chart runs exactly this code. The VM's kernel has BTF, so the build generates
# vmlinux.h from it.
set -euo pipefail
IMAGE=periscope:lab

export DEBIAN_FRONTEND=noninteractive
if ! command -v docker >/dev/null; then
  apt-get install -y -q --no-install-recommends docker.io
fi
cd /periscope
# Debian 12's docker.io (20.10) has BuildKit built in, which the Dockerfile's cache mounts need.
DOCKER_BUILDKIT=1 docker build -f deploy/Dockerfile -t "$IMAGE" \
  --build-arg REVISION="lab" --build-arg CREATED="$(date -u +%Y-%m-%dT%H:%M:%SZ)" .
docker save "$IMAGE" | k3s ctr images import -
