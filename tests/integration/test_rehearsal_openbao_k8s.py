"""`rehearse` with `vault.injector: openbao-k8s`: the overlay's openbao.org/* annotations turned into the agent
config as openbao/openbao-k8s builds it (its token sink and pid file under /home/openbao; the rest as vault-k8s),
run by a real `bao agent` against a real OpenBao the rendered scripts configured; and a tree rendered for the other
injector refused before anything starts."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.rehearsal_cli import AGENT_STEP, CONSISTENCY_STEP, FILES_STEP, cause_of, rehearse, step_line
from tests.support import EXAMPLES, render_into

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("needs_openbao")]


def _config(tmp_path: Path, injector: str) -> Path:
    """examples/openbao.yaml (OpenBao server, Helm) with every installer and the injector named."""
    text = (EXAMPLES / "openbao.yaml").read_text(encoding="utf-8")
    assert "  flavor: openbao\n" in text and "outputs: [helm]" in text
    text = text.replace("  flavor: openbao\n", f"  flavor: openbao\n  injector: {injector}\n", 1)
    text = text.replace("outputs: [helm]", "outputs: [helm, istio-operator, tsb-controlplane]", 1)
    path = tmp_path / f"{injector}.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_an_openbao_k8s_config_rehearses_with_a_real_bao_agent(tmp_path: Path) -> None:
    result = rehearse(tmp_path, "-c", str(_config(tmp_path, "openbao-k8s")))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "rehearsal passed" in result.stdout
    consistency = step_line(result.stdout, "PASS", CONSISTENCY_STEP)
    assert "secret-volume-path equals ROOT_CA_DIR" in consistency
    agent = step_line(result.stdout, "PASS", AGENT_STEP)
    assert "wrote 4 files as openbao-agent-init would" in agent
    assert "24 chain checks passed" in step_line(result.stdout, "PASS", FILES_STEP)


def test_a_tree_rendered_for_the_other_injector_is_refused(tmp_path: Path) -> None:
    tree = render_into(_config(tmp_path, "openbao-k8s"), tmp_path / "out")
    result = rehearse(tmp_path, "-c", str(_config(tmp_path, "vault-k8s")), "--from", str(tree))
    assert result.returncode == 1, result.stdout + result.stderr
    step_line(result.stdout, "FAIL", CONSISTENCY_STEP)
    assert (
        "its annotations are openbao.org/*, for the openbao-k8s injector, but the config says vault.injector: "
        "vault-k8s: that injector would ignore them" in cause_of(result.stdout) + result.stdout
    )
