#!/usr/bin/env bash
# Jaeger, the demo workload, and Periscope from the chart, exporting to Jaeger.
set -euo pipefail
export KUBECONFIG=/etc/rancher/k3s/k3s.yaml
cd /periscope

kubectl() { k3s kubectl "$@"; }

kubectl apply -f vagrant/demo/jaeger.yaml
kubectl apply -f vagrant/demo/shop.yaml

# The image built by image.sh is in the node's containerd already: never pull it.
helm upgrade --install periscope deploy/helm/periscope \
  --namespace periscope --create-namespace \
  --set image.repository=periscope \
  --set image.tag=lab \
  --set image.pullPolicy=Never \
  --set otlp.endpoint=http://jaeger.observability:4318 \
  --set logFormat=text \
  --wait --timeout 5m

# One agent's /metrics on the host's port 9464.
kubectl apply -f vagrant/demo/periscope-metrics.yaml

kubectl -n shop rollout status deployment/inventory deployment/storefront deployment/orders --timeout=5m
kubectl -n observability rollout status deployment/jaeger --timeout=5m
echo
echo "Periscope lab is up. Open http://localhost:16686 (Jaeger) and pick the service 'orders'."
echo "The storefront (nginx) answers on http://localhost:8080/inventory; metrics: http://localhost:9464/metrics"
