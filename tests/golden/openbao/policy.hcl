# Policy "istioca" for istiod's Vault agent (role istiod, cluster default).
# Read on exactly the paths the agent templates read; nothing else.

path "istioca/cert/ca" {
  capabilities = ["read"]
}

path "istioca/cert/ca_chain" {
  capabilities = ["read"]
}

path "pki/cert/ca" {
  capabilities = ["read"]
}

path "secret/data/istioca" {
  capabilities = ["read"]
}
