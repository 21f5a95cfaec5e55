"""The rendered monitoring/ tree: valid against the Kubernetes schemas (kubernetes-validate, offline, strict), the
least RBAC asked for, a non-root read-only pod, and an exporter policy that never names the KV path of the key.

ServiceMonitor and PrometheusRule are Prometheus Operator CRDs, for which kubernetes-validate ships no schema:
they are checked for their kind and apiVersion here, and the rules by promtool (test_metrics_and_rules.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
from ruamel.yaml import YAML

from tests.support import EXAMPLES, render_into

CRONJOB = (
    "monitoring:\n  enabled: true\n  image: registry.example/ivc:1\n  mode: cronjob\n"
    "  pushgateway_url: http://pushgateway.monitoring:9091\n  pod_files: false\n"
)


def _documents(path: Path) -> list[dict[str, Any]]:
    return [d for d in YAML(typ="safe").load_all(path.read_text(encoding="utf-8")) if d]


@pytest.fixture(scope="module", params=["deployment", "cronjob"])
def tree(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp(request.param)
    if request.param == "deployment":
        return render_into(EXAMPLES / "monitoring.yaml", work / "out")
    config = work / "config.yaml"
    config.write_text(CRONJOB, encoding="utf-8")
    return render_into(config, work / "out")


def test_manifests_validate_against_the_kubernetes_schemas(tree: Path) -> None:
    version = kubernetes_validate.latest_version()
    kinds = []
    for path in sorted((tree / "monitoring").glob("*.yaml")):
        for document in _documents(path):
            kinds.append(document["kind"])
            if document["apiVersion"] == "monitoring.coreos.com/v1":
                assert document["kind"] in ("ServiceMonitor", "PrometheusRule")
                continue
            kubernetes_validate.validate(document, version, strict=True)
    workload = "Deployment" if (tree / "monitoring" / "service-monitor.yaml").exists() else "CronJob"
    expected = ["ConfigMap", workload, "PrometheusRule", "ServiceAccount", "Role", "RoleBinding"]
    expected += ["ClusterRole", "ClusterRoleBinding"]
    if workload == "Deployment":
        expected += ["Service", "ServiceMonitor"]
    assert kinds == expected


def test_pod_is_non_root_and_read_only(tree: Path) -> None:
    workload = _documents(tree / "monitoring" / "exporter.yaml")[1]
    spec = workload["spec"]
    template = spec["template"] if workload["kind"] == "Deployment" else spec["jobTemplate"]["spec"]["template"]
    pod = template["spec"]
    (container,) = pod["containers"]
    assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] == 65532
    assert container["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
    }


def test_rbac_is_least_and_exec_only_with_pod_files(tree: Path) -> None:
    role = next(d for d in _documents(tree / "monitoring" / "rbac.yaml") if d["kind"] == "Role")
    verbs = {tuple(rule["resources"]): rule["verbs"] for rule in role["rules"]}
    pod_files = (tree / "monitoring" / "service-monitor.yaml").exists()  # the cronjob case turns them off
    assert ("pods/exec",) in verbs if pod_files else ("pods/exec",) not in verbs
    assert all(set(v) <= {"get", "list", "create"} for v in verbs.values())
    assert verbs[("deployments",)] == ["get"] and verbs[("configmaps",)] == ["get"]


def test_exporter_policy_never_reads_the_key(tree: Path) -> None:
    policy = (tree / "monitoring" / "vault-policy.hcl").read_text(encoding="utf-8")
    assert 'path "kv/istioca"' in (tree / "policy.hcl").read_text(encoding="utf-8")
    assert "kv/" not in policy and "auth/token/create" not in policy
    assert 'path "istioca/cert/ca" {' in policy and 'path "pki/cert/ca" {' in policy
