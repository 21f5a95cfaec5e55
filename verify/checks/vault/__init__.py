"""Checks of the live Vault against the config (ids `vault.*`), and the four CA values as the agent reads them.

Modules by job: `state` (the cached API, config and clock the checks read; `read_ca_values`), `ca` (Vault, its
mounts, root, intermediate and stored key), `drift` (the root and intermediates against the config's CN, key
and lifetime), `access` (Kubernetes auth, role and policy), `expiry`, `policy_hcl`
(policy text compared as tokens) and `runner` (`check_vault`).
"""

from __future__ import annotations

# Import order is report order within the Vault-wide and the per-cluster groups (see runner).
# isort: off
from . import ca
from . import drift
from . import access
from . import expiry

# isort: on
from .access import capabilities_of_policy
from .ca import kv_key_matches
from .drift import Difference, intermediate_differences, root_differences
from .policy_hcl import (
    describe_policy_drift,
    normalise_hcl,
    policy_rules,
    rendered_policies,
)
from .runner import check_vault
from .state import (
    NO_VALUE,
    ClusterVaultState,
    VaultState,
    read_ca_values,
    root_signing_ttl,
    template_value,
)

__all__ = [
    "NO_VALUE",
    "ClusterVaultState",
    "Difference",
    "VaultState",
    "access",
    "ca",
    "capabilities_of_policy",
    "check_vault",
    "describe_policy_drift",
    "drift",
    "expiry",
    "intermediate_differences",
    "kv_key_matches",
    "normalise_hcl",
    "policy_rules",
    "read_ca_values",
    "rendered_policies",
    "root_differences",
    "root_signing_ttl",
    "template_value",
]
