"""`istiod.data_plane` and its per-cluster override `clusters[].data_plane`: the default, the inheritance each
cluster's plan carries, and the JSON Schema users' editors show (with a description on each field)."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from istio_vault_ca.generator.config.model import Config
from istio_vault_ca.generator.config.plan import plan


def _config(**data: object) -> Config:
    return Config.model_validate(data)


def test_the_default_is_sidecar_for_every_cluster() -> None:
    config = _config()
    assert config.istiod.data_plane == "sidecar"
    assert [p.data_plane for p in plan(config)] == ["sidecar"]


def test_a_cluster_overrides_the_mesh_wide_data_plane() -> None:
    config = _config(
        istiod={"data_plane": "ambient"},
        clusters=[
            {"name": "east"},
            {
                "name": "west",
                "data_plane": "sidecar",
                "intermediate_mount": "istioca-west",
                "kv_path": "istioca-west",
                "auth_mount": "kubernetes-west",
                "policy": "istioca-west",
                "kubernetes_auth": {"reviewer": "client-jwt", "kubernetes_host": "https://west.example:6443"},
            },
        ],
    )
    assert {p.name: p.data_plane for p in plan(config)} == {"east": "ambient", "west": "sidecar"}


@pytest.mark.parametrize("where", ["istiod", "cluster"])
def test_only_sidecar_or_ambient(where: str) -> None:
    data: dict[str, object] = (
        {"istiod": {"data_plane": "ztunnel"}} if where == "istiod" else {"clusters": [{"data_plane": "ztunnel"}]}
    )
    with pytest.raises(ValidationError) as error:
        Config.model_validate(data)
    assert "Input should be 'sidecar' or 'ambient'" in str(error.value)


def test_the_schema_describes_both_fields() -> None:
    schema = json.loads(json.dumps(Config.model_json_schema()))
    istiod = schema["$defs"]["Istiod"]["properties"]["data_plane"]
    assert istiod["enum"] == ["sidecar", "ambient"] and istiod["default"] == "sidecar"
    assert "ztunnel" in istiod["description"]
    cluster = schema["$defs"]["Cluster"]["properties"]["data_plane"]
    assert "default: istiod.data_plane" in cluster["description"]
