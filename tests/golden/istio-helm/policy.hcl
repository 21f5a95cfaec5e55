# Policy "istiod-ca" for istiod's Vault agent (role istiod, cluster prod).
# Read on exactly the paths the agent templates read; nothing else.

path "istio-ca/cert/ca" {
  capabilities = ["read"]
}

path "istio-ca/cert/ca_chain" {
  capabilities = ["read"]
}

path "pki/cert/ca" {
  capabilities = ["read"]
}

path "secret/data/istio/prod/ca" {
  capabilities = ["read"]
}
