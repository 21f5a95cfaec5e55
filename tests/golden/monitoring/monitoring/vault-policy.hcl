# Policy istioca-monitor for the istio-vault-ca exporter (role istiod-monitor, cluster default).
# What `verify vault` reads, except the KV path holding the CA key and token creation: the exporter
# gives up vault.kv-key-matches and vault.policy-grants-read.

path "auth/kubernetes/config" {
  capabilities = ["read"]
}

path "auth/kubernetes/role/istiod" {
  capabilities = ["read"]
}

path "istioca/cert/ca" {
  capabilities = ["read"]
}

path "istioca/cert/ca_chain" {
  capabilities = ["read"]
}

path "pki/cert/ca" {
  capabilities = ["read"]
}

path "sys/audit" {
  capabilities = ["read", "sudo"]
}

path "sys/auth" {
  capabilities = ["read"]
}

path "sys/mounts" {
  capabilities = ["read"]
}

path "sys/policies/acl/*" {
  capabilities = ["read"]
}
