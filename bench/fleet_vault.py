"""One OpenBao dev server holding the N-cluster fleet of bench/fleet.py: a root in the root mount and each
cluster's intermediate imported into its own mount, so `verify fleet` of 1 and of N clusters read the same server.

The intermediates are made here (EC keys, the test factory) and imported over the API: the rendered scripts would
spend minutes generating 100 keys in Vault, and the figure is about reading them, not making them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.fleet import cluster_name

if TYPE_CHECKING:
    from istio_vault_ca.generator.pki.factory import Issued


@contextmanager
def fleet_openbao(workspace: Path, clusters: int, env: Mapping[str, str] | None = None) -> Iterator[dict[str, str]]:
    """A dev server with `clusters` intermediates under one root; yields the environment that reaches it."""
    import hvac

    from bench.fleet import fleet_config
    from istio_vault_ca.generator.config.loader import parse_text
    from istio_vault_ca.generator.pki import factory
    from istio_vault_ca.verify.rehearsal.openbao import start_dev_server

    config = parse_text(fleet_config(clusters), "fleet")
    server = start_dev_server(workspace / "openbao-fleet")
    try:
        client = hvac.Client(url=server.address, token=server.token)
        now = dt.datetime.now(dt.timezone.utc)
        root = factory.self_signed_ca("bench fleet root", lifetime=dt.timedelta(days=3650), now=now)
        _import(client, config.root.mount, root)
        for index in range(clusters):
            name = cluster_name(index)
            intermediate = factory.issued_ca(f"bench {name}", root, lifetime=dt.timedelta(days=365), now=now)
            _import(client, f"istioca-{name}", intermediate)
        yield server.env(dict(env) if env is not None else None)
    finally:
        server.stop()


def _import(client: Any, mount: str, issued: Issued) -> None:
    """A PKI mount tuned to ten years holding `issued` (certificate and key) as its only, default, issuer."""
    client.sys.enable_secrets_engine("pki", path=mount, config={"max_lease_ttl": "87600h"})
    client.write_data(f"{mount}/config/ca", data={"pem_bundle": (issued.private_pem() + issued.pem).decode()})
