"""`plan-rotation --root` for ambient clusters: the phase READMEs name the restarts ztunnel needs, in order (istiod,
ztunnel, workloads), and say where downtime cannot be avoided; sidecar clusters' files do not change at all."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

from istio_vault_ca.generator.config.loader import parse_text
from istio_vault_ca.generator.config.plan import ClusterPlan, plan
from istio_vault_ca.generator.render.root_rotation import README, render_phase_b, render_phase_c, render_phase_d
from istio_vault_ca.verify.rotation.root import IntermediateNow
from tests.support import EXAMPLES

NEW_ISSUER = "0f3c2a4e-1111-2222-3333-444455556666"
OLD = IntermediateNow("aaaa-bbbb", "1f", dt.datetime(2030, 1, 1, tzinfo=dt.timezone.utc))


def _plans(ambient: set[str]) -> tuple[ClusterPlan, ...]:
    path = EXAMPLES / "three-clusters.yaml"
    plans = plan(parse_text(path.read_text(encoding="utf-8"), str(path)))
    return tuple(replace(p, data_plane="ambient") if p.name in ambient else p for p in plans)


def _readmes(plans: tuple[ClusterPlan, ...]) -> dict[str, str]:
    config = plans[0].config
    trees = {
        "b": render_phase_b(plans),
        "c": render_phase_c(config, tuple((cluster, OLD) for cluster in plans), NEW_ISSUER),
        "d": render_phase_d(config, plans, "aaaa-bbbb", NEW_ISSUER),
    }
    return {phase: tree[README].content.decode() for phase, tree in trees.items()}


def test_sidecar_clusters_render_exactly_as_before() -> None:
    sidecar = _plans(set())
    assert all(p.data_plane == "sidecar" for p in sidecar)
    for phase, text in _readmes(sidecar).items():
        assert "Ambient clusters" not in text, phase
        assert "daemonset/ztunnel" not in text, phase


def test_ambient_clusters_get_the_restarts_in_order_and_the_downtime_named() -> None:
    plans = _plans({"west"})
    for phase, text in _readmes(plans).items():
        assert "Ambient clusters (west): ztunnel trusts ONE root" in text, phase
        section = text[text.index("Ambient clusters") :]
        assert "cluster west:" in section and "cluster east:" not in section, phase
        istiod = section.index("rollout restart deployment/istiod")
        ztunnel = section.index("rollout restart daemonset/ztunnel")
        workloads = section.index("3. workloads:")
        assert istiod < ztunnel < workloads, phase
        assert "Downtime that cannot be avoided" in section, phase
        assert "run (c) right after (b), in one maintenance window" in section
        assert "run (d) right after (c), in one maintenance window" in section


def test_the_ambient_restarts_use_the_cluster_s_kubectl_context() -> None:
    plans = tuple(
        replace(p, cluster=p.cluster.model_copy(update={"kube_context": f"{p.name}-ctx"})) for p in _plans({"west"})
    )
    text = _readmes(plans)["b"]
    assert "kubectl --context west-ctx -n istio-system rollout restart daemonset/ztunnel" in text
    assert "east-ctx" not in text, "sidecar clusters get no restart lines"
