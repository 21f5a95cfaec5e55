# Policy "istioca-west" for istiod's Vault agent (role istiod, cluster west).
# Read on exactly the paths the agent templates read; nothing else.

path "istioca-west/cert/ca" {
  capabilities = ["read"]
}

path "istioca-west/cert/ca_chain" {
  capabilities = ["read"]
}

path "istioca-west/issuer/root" {
  capabilities = ["read"]
}

path "kv/data/istioca/west" {
  capabilities = ["read"]
}
