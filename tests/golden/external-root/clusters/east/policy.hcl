# Policy "istioca-east" for istiod's Vault agent (role istiod, cluster east).
# Read on exactly the paths the agent templates read; nothing else.

path "istioca-east/cert/ca" {
  capabilities = ["read"]
}

path "istioca-east/cert/ca_chain" {
  capabilities = ["read"]
}

path "istioca-east/issuer/root" {
  capabilities = ["read"]
}

path "kv/data/istioca/east" {
  capabilities = ["read"]
}
