# Policy "istioca-central" for istiod's Vault agent (role istiod, cluster central).
# Read on exactly the paths the agent templates read; nothing else.

path "istioca-central/cert/ca" {
  capabilities = ["read"]
}

path "istioca-central/cert/ca_chain" {
  capabilities = ["read"]
}

path "kv/data/istioca/central" {
  capabilities = ["read"]
}

path "pki/cert/ca" {
  capabilities = ["read"]
}
