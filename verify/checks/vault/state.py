"""What the Vault checks read: the API (cached, so one cluster costs about fifteen requests), the config and the
clock, and the four values exactly as the rendered agent templates would print them (`read_ca_values`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from cryptography import x509

from ....generator.config.durations import hours, parse_duration
from ....generator.config.model import Config
from ....generator.config.plan import ClusterPlan, plan
from ...clients.vault import VaultApi

NO_VALUE = "<no value>"
VERIFY_TOKEN_TTL = "60s"


@dataclass(frozen=True)
class VaultState:
    """What every check needs: the API (with its cache), the config and the clock."""

    api: VaultApi
    config: Config
    warn_days: int
    now: dt.datetime
    rendered: dict[str, str] = field(default_factory=dict)
    clusters: tuple[ClusterPlan, ...] = ()
    config_source: str | None = None

    def data(self, path: str) -> dict[str, Any] | None:
        """The `data` of a GET, None when Vault has nothing there."""
        response = self.api.read(path)
        if response is None:
            return None
        body = response.get("data")
        return body if isinstance(body, dict) else None

    def mount(self, name: str, listing: str = "sys/mounts") -> dict[str, Any] | None:
        return (self.data(listing) or {}).get(f"{name}/")

    def certificate(self, path: str) -> x509.Certificate | None:
        pem = (self.data(path) or {}).get("certificate")
        if not isinstance(pem, str) or "BEGIN CERTIFICATE" not in pem:
            return None
        return x509.load_pem_x509_certificate(pem.encode())

    def root_step(self, script: str) -> str:
        """The script a root step's hint names: the flat tree's `vault/NN.sh`, or in a fleet (several clusters
        render the shared steps under root/, generator/render/layout.py) root/vault/setup.sh, which runs it."""
        from ....generator.render.layout import layout_for

        root_setup = layout_for(plan(self.config)).root_setup
        return f"{root_setup} (its step {script})" if root_setup else f"vault/{script}"

    def cluster_step(self, cluster: ClusterPlan, script: str) -> str:
        """The script a cluster step's hint names: `vault/NN.sh` in a flat tree, `clusters/<name>/vault/NN.sh` in a
        fleet (generator/render/layout.py). `04` is the step of this root mode (the CSR step for an offline root)."""
        from ....generator.render.layout import intermediate_step, step_script

        return step_script(cluster, intermediate_step(cluster) if script.startswith("04-") else script)

    def any_cluster_step(self, script: str) -> str:
        """For a Vault-wide object a cluster step makes (the KV mount): the first cluster's script, and in a fleet
        the words that any cluster's does the same."""
        if not self.clusters:
            return f"vault/{script}"
        first = self.cluster_step(self.clusters[0], script)
        return first if len(self.config.clusters) == 1 else f"{first} (or any cluster's {script})"

    @property
    def target(self) -> str:
        """What a Vault-wide check's error names: the first cluster, as the checks read its paths."""
        return self.clusters[0].name if self.clusters else self.api.address


@dataclass(frozen=True)
class ClusterVaultState(VaultState):
    """The input of a per-cluster check (`needs=("cluster",)`): the state and one cluster of the config."""

    cluster: ClusterPlan = field(kw_only=True)

    @property
    def target(self) -> str:
        return self.cluster.name

    def step(self, script: str) -> str:
        """This cluster's step script as a hint names it (see `cluster_step`)."""
        return self.cluster_step(self.cluster, script)


# ---------------------------------------------------------------- the agent's view


def template_value(response: Mapping[str, Any] | None, data_keys: tuple[str, ...]) -> bytes | None:
    """What `{{ with secret ... }}{{ .Data.<keys> }}{{ end }}` prints: None when the secret is absent,
    the literal `<no value>` when a key is missing (as consul-template does), else the value and a newline."""
    if response is None:
        return None
    value: Any = response.get("data")
    for key in data_keys:
        value = value.get(key) if isinstance(value, dict) else None
        if value is None:
            return f"{NO_VALUE}\n".encode()
    return f"{value}\n".encode()


def read_ca_values(api: VaultApi, cluster: ClusterPlan) -> tuple[dict[str, bytes | None], dict[str, str]]:
    """The four values the agent would render, and labels naming the API path each came from."""
    values: dict[str, bytes | None] = {}
    labels: dict[str, str] = {}
    for ca_file in cluster.ca_files():
        values[ca_file.name] = template_value(api.read(ca_file.secret_path), ca_file.data_keys)
        labels[ca_file.name] = f"{ca_file.name} from {ca_file.secret_path}"
    return values, labels


# ---------------------------------------------------------------- the server's flavor (vault.flavor)

FLAVOR_NAMES = {"vault": "HashiCorp Vault", "openbao": "OpenBao"}


def server_flavor(version: str) -> str | None:
    """`openbao` or `vault` from the version sys/health and sys/seal-status report, None when unreadable.

    Neither answer names the product; the version does: OpenBao numbers its releases from 2.0.0 (it forked
    Vault 1.14), HashiCorp Vault's are 1.x (`1.15.2`, `1.15.2+ent`).
    """
    major = version.lstrip("v").split(".", 1)[0]
    if not major.isdigit():
        return None
    return "openbao" if int(major) >= 2 else "vault"


# ---------------------------------------------------------------- helpers


def cn(cert: x509.Certificate) -> str:
    names = cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
    return str(names[0].value) if names else cert.subject.rfc4514_string()


def ca_file(cluster: ClusterPlan, name: str) -> tuple[str, tuple[str, ...]]:
    ca_file = next(f for f in cluster.ca_files() if f.name == name)
    return ca_file.secret_path, ca_file.data_keys


def max_ttl(mount: Mapping[str, Any]) -> int:
    return int((mount.get("config") or {}).get("max_lease_ttl") or 0)


def ttl(seconds: int) -> str:
    return hours(seconds) if seconds else "the system default"


def root_signing_ttl(config: Config) -> int:
    """The root mount's max TTL the scripts set: the root's TTL or the longest intermediate, whichever is more."""
    return max([parse_duration(config.root.ttl), *(p.intermediate_ttl_seconds for p in plan(config))])
