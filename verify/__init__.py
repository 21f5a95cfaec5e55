"""Checks that prove a deployed Vault-backed istiod CA is what the config says."""
