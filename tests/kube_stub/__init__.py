"""A TEST STAND-IN for the Kubernetes API server and for kubectl, used because no kube-apiserver is installable here.

`server.KubeStub` speaks the REST API for the objects `verify cluster` reads; `seed` builds objects shaped like a
real istiod with the Vault agent injected; `kubectl_standin` answers the `kubectl exec` commands testinfra issues.
"""
