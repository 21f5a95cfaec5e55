"""What stays stood in for Kubernetes: the kubelet's side only. Every API-server scenario runs against the real
kube-apiserver of the e2e tier (tests/e2e: cluster.py, test_cluster_scenarios_real.py,
test_cluster_findings_real.py); the hand-written REST server that imitated it is gone.

A real API server cannot produce these, because each needs a kubelet and a container runtime, which the tests
do not run:

- `kubectl exec` into istiod's Pod (the API server upgrades the request and proxies it to the kubelet's
  streaming server, which execs in the container runtime): `kubectl_standin` answers the exact
  `kubectl ... exec POD -- /bin/sh -c CMD` lines testinfra issues, over a local directory playing the Pod's
  ca_dir (a distroless container, file owners);
- what containers write to their logs and the container states a kubelet reports: `seed` holds istiod's start-up
  lines in each release's wording and the container statuses the e2e tier patches through `pods/status` (its log
  endpoint, tests/e2e/kubelet_logs.py, serves the text behind a real Node: the `pods/log` request, its RBAC and
  the API server's proxying are real), and the Deployment in the istio-discovery chart's shape.
"""
