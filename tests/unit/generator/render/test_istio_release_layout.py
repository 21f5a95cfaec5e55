"""Issue 27 section 7: the istiod Helm values follow `istiod.istio_version`'s chart.

`tests/istio_chart/chart-paths.txt` holds, for each release 1.12.0 .. 1.30.0, the `.Values` paths its istiod
chart's deployment.yaml reads for the discovery container's env and the pod annotations (derived from istio/istio
by tests/istio_chart/derive_paths.py; the commit of each tag is in the file). The Go oracle
(tests/fidelity/test_overlay_istio.py) runs the newest chart; the module proxy serves no revision of 1.23 or
older, so for those the chart's own template paths are the proof.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from istio_vault_ca.generator.config.model import ISTIO_VERSION_DEFAULT, Config
from istio_vault_ca.generator.config.plan import plan
from istio_vault_ca.generator.render.installers import helm
from istio_vault_ca.verify.checks.chain.versions import NEWEST
from istio_vault_ca.verify.cli.parser import main
from tests.support import REPO

PATHS_FILE = REPO / "tests" / "istio_chart" / "chart-paths.txt"
RELEASES = [
    line.split() for line in PATHS_FILE.read_text(encoding="utf-8").splitlines() if line and not line.startswith("#")
]


def _values(release: str, **istiod: Any) -> dict[str, Any]:
    config = Config.model_validate({"istiod": {"outputs": ["helm"], "istio_version": release, **istiod}})
    return helm.build(plan(config)[0])


def _at(values: dict[str, Any], path: str) -> Any:
    node: Any = values
    for key in path.split(".")[1:]:  # "Values.pilot.env" -> pilot, env
        node = node.get(key) if isinstance(node, dict) else None
    return node


@pytest.mark.parametrize(("release", "commit", "env_path", "annotations_path", "descope"), RELEASES)
def test_values_sit_where_that_releases_chart_reads_them(
    release: str, commit: str, env_path: str, annotations_path: str, descope: str
) -> None:
    """The chart's own path for each release; where the chart reads only `pilot.*` (no descope template copying
    `pilot:` up), top-level values would be ignored, so the render must use `pilot:` there."""
    values = _values(release)
    if env_path == "Values.pilot.env":
        assert descope == "0", f"{release}: a chart that reads pilot.* and copies it up: revisit helm.py"
    env, annotations = _at(values, env_path), _at(values, annotations_path)
    assert isinstance(env, dict) and env.get("ROOT_CA_DIR") == "/vault/secrets", (release, commit, values)
    assert isinstance(annotations, dict) and annotations.get("vault.hashicorp.com/agent-inject") == "true"
    other = "Values.env" if env_path == "Values.pilot.env" else "Values.pilot.env"
    assert _at(values, other) is None, f"{release}: values in the layout its chart ignores"


def test_the_facts_cover_both_layouts_and_the_switch_at_1_24() -> None:
    layout = {release: (env, descope) for release, _, env, _, descope in RELEASES}
    assert layout["1.23.0"] == ("Values.pilot.env", "0") and layout["1.24.0"] == ("Values.env", "1")
    assert len(RELEASES) == 19


def test_mesh_config_stays_top_level_in_the_old_layout() -> None:
    old = _values("1.22", hold_application_until_proxy_starts=True)
    assert set(old) == {"pilot", "meshConfig"}
    assert old["meshConfig"] == {"defaultConfig": {"holdApplicationUntilProxyStarts": True}}


def test_default_and_newer_releases_render_the_newest_layout() -> None:
    assert f"{NEWEST[0]}.{NEWEST[1]}" == ISTIO_VERSION_DEFAULT, "the default is the newest release verify models"
    assert set(_values(ISTIO_VERSION_DEFAULT)) == {"env", "podAnnotations"} == set(_values("1.40.1"))


def test_verify_reads_either_layout_back() -> None:
    for release in ("1.23", "1.24"):
        settings = helm.read(_values(release))
        assert settings is not None and settings[1]["ROOT_CA_DIR"] == "/vault/secrets"


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("istio_version: 1.30", "got the number 1.3: quote the release"),
        ("istio_version: '1.11'", "older than 1.12"),
        ("istio_version: latest", "is not an Istio release like '1.24'"),
    ],
)
def test_a_bad_release_is_a_located_config_error(
    line: str, message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "istio-vault-ca.yaml"
    config.write_text(f"istiod:\n  outputs: [helm]\n  {line}\n")
    assert main(["validate", "-c", str(config)]) == 2
    err = capsys.readouterr().err
    assert "istiod.istio_version" in err and "line 3" in err and message in err, err
    assert "Traceback" not in err
