"""Field rules and constants that the config model and the cross-field rules both apply.

Kept apart from generator/config/model.py so that the cross-field rules (generator/config/rules.py), which the
model's last validator runs, import these without importing the model back.
"""

from __future__ import annotations

import re

CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f]")
KEY_BITS: dict[str, tuple[int, ...]] = {"rsa": (2048, 3072, 4096), "ec": (256, 384)}
IN_CLUSTER_HOST = "https://kubernetes.default.svc"

# Where in the config a problem is: the field path, as pydantic's error locations spell it.
Location = tuple[str | int, ...]


def check_key(key_type: str, key_bits: int) -> None:
    allowed = KEY_BITS[key_type]
    if key_bits not in allowed:
        raise ValueError(f"key_bits {key_bits} is not valid for key_type {key_type}: use one of {list(allowed)}")


def check_reviewer(reviewer: str, host: str, token_reviewer: object | None) -> None:
    if reviewer != "local" and host == IN_CLUSTER_HOST:
        raise ValueError(
            f"reviewer {reviewer} means Vault runs outside the cluster: set kubernetes_host to the API "
            f"server URL Vault can reach ({IN_CLUSTER_HOST} only resolves inside the cluster)"
        )
    if reviewer == "secret" and token_reviewer is None:
        raise ValueError("reviewer secret needs token_reviewer: {service_account, namespace, secret_name}")
    if reviewer != "secret" and token_reviewer is not None:
        raise ValueError(f"token_reviewer is only used with reviewer: secret (reviewer is {reviewer})")
