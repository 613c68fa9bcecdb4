#!/usr/bin/env bash
# A one-node Kubernetes (k3s) and Helm, pinned to versions the lab was written for.
set -euo pipefail
K3S_VERSION=v1.33.5+k3s1
HELM_VERSION=v3.19.0

export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends curl ca-certificates

if ! command -v k3s >/dev/null; then
  # Traefik is not needed: the demo is reached through NodePorts.
  curl -sfL https://get.k3s.io | INSTALL_K3S_VERSION="$K3S_VERSION" INSTALL_K3S_EXEC="--disable traefik" sh -
fi
if ! command -v helm >/dev/null; then
  curl -sfL "https://get.helm.sh/helm-${HELM_VERSION}-linux-amd64.tar.gz" | tar -xz -C /tmp linux-amd64/helm
  install -m 0755 /tmp/linux-amd64/helm /usr/local/bin/helm
fi

# kubectl and helm for the vagrant user too.
install -d -o vagrant -g vagrant /home/vagrant/.kube
install -m 0600 -o vagrant -g vagrant /etc/rancher/k3s/k3s.yaml /home/vagrant/.kube/config

until k3s kubectl get nodes 2>/dev/null | grep -q ' Ready'; do
  echo "waiting for the node to be ready"
  sleep 3
done
