"""Fixtures shared by the unit tests."""

from __future__ import annotations

import pytest

from istio_vault_ca.generator.config.loader import load
from istio_vault_ca.generator.config.plan import ClusterPlan, plan
from tests.support import REPO

STARTER = REPO / "generator" / "config" / "starter.yaml"


@pytest.fixture(scope="module")
def cluster_plan() -> ClusterPlan:
    """The plan of the starter config's (``istio-vault-ca init``'s) one cluster, made once a module."""
    return plan(load(str(STARTER)).config)[0]
