#!/usr/bin/env bash
# Run the sharded conformance Job, wait for it to end (complete or failed: a failed index is
# named by the merge), then merge and print the merge's log. Needs kubectl and a cluster.
set -euo pipefail
cd "$(dirname "$0")"
kubectl apply -f conformance-job.yaml
while :; do
  state=$(kubectl get job strictrun-conformance -o jsonpath='{.status.conditions[?(@.status=="True")].type}')
  case "$state" in
    *Complete*|*Failed*) break ;;
  esac
  sleep 30
done
echo "conformance job: $state"
kubectl delete job strictrun-conformance-merge --ignore-not-found
kubectl apply -f merge-job.yaml
kubectl wait --for=condition=complete --timeout=30m job/strictrun-conformance-merge || true
kubectl logs job/strictrun-conformance-merge
