module istio-vault-ca/tests/oracles/vault_api

go 1.25.3

// Read as source only (never built): Vault 1.21.4, the Kubernetes auth and KV plugins at the versions its go.mod
// requires, and the sdk it names (its go.mod replaces sdk with ./sdk, which a dependency's zip does not hold; v0.21.0
// is the version that go.mod names).
require (
	github.com/hashicorp/vault v1.21.4
	github.com/hashicorp/vault-plugin-auth-kubernetes v0.23.1
	github.com/hashicorp/vault-plugin-secrets-kv v0.25.0
	github.com/hashicorp/vault/sdk v0.21.0
)
