"""Render every artifact of a Vault-backed istiod intermediate CA from one config file."""

__version__ = "0.1.0"
