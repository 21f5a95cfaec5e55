"""The whole root rotation rehearsed on a real OpenBao: the rendered setup, then `plan-rotation --root` and each
phase's rendered script (a, b, c, d), every script run twice (an interrupted phase is resumed by running it again)
and plan-rotation re-run between phases (it must name the right next phase). At each phase two real `bao agent`s
render the four CA files: one from the overlay `render` wrote (before the rotation), one from the phase-(b) overlay
(root-cert.pem from the trust bundle), and `verify chain` judges each directory. Leaves issued under the old and
the new intermediate are verified against the bundle with the Go rules (gox509), and the unsafe orders are refused
with their reason."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import hvac
import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from istio_vault_ca.generator.pki.factory import workload_leaf
from istio_vault_ca.verify.checks.chain.gox509 import Options, VerifyError, verify
from tests.integration.rotation_agents import pems, policy_token, run_agent
from tests.support import run_setup, server_under_test
from tests.vault_setup import EC_CONFIG, cli, configure

pytestmark = [pytest.mark.integration, pytest.mark.slow]

CONFIG = EC_CONFIG + "vault:\n  audit:\n    enabled: false\n"
CLUSTER = "default"
OVERLAY = "istiod/tsb-controlplane-overlay.yaml"
SPIFFE = "spiffe://cluster.local/ns/default/sa/app"


def judge(env: dict[str, str], directory: Path) -> tuple[int, dict[str, dict[str, str]]]:
    """`verify chain DIR --output json` as a user runs it: exit code and each check by id."""
    code, stdout, stderr = cli(env, "verify", "chain", str(directory), "--output", "json")
    assert stdout, stderr
    return code, {check["id"]: check for check in json.loads(stdout)["checks"]}


def from_vault(env: dict[str, str], config: str) -> tuple[int, dict[str, dict[str, str]]]:
    """`verify chain --from-vault -c CONFIG --output json`: the four values as the agent reads them from Vault."""
    code, stdout, stderr = cli(env, "verify", "chain", "--from-vault", "-c", config, "--output", "json")
    assert stdout, stderr
    return code, {check["id"]: check for check in json.loads(stdout)["checks"]}


def from_vault_in_phase(env: dict[str, str], config: str, words: str, roots: str) -> dict[str, dict[str, str]]:
    """`verify chain --from-vault` passes, root-cert.pem read from the trust bundle and named with the phase."""
    code, checks = from_vault(env, config)
    failing = {k: v["finding"] for k, v in checks.items() if v["status"] == "fail"}
    assert code == 0 and not failing, failing
    finding = checks["chain.trust-bundle"]["finding"]
    assert finding.startswith(f"root-cert.pem from kv/istio-trust-bundle ({words}") and f"holds {roots}" in finding
    return checks


def warnings(checks: dict[str, dict[str, str]]) -> set[str]:
    return {check_id for check_id, check in checks.items() if check["status"] == "warn"}


def vault_problems(env: dict[str, str], config: str) -> dict[str, str]:
    """`verify vault --output json`: each check that did not pass, by id, with its status."""
    code, stdout, stderr = cli(env, "verify", "vault", "-c", config, "--output", "json")
    assert stdout, stderr
    checks = json.loads(stdout)["checks"]
    problems = {c["id"]: c["status"] for c in checks if c["status"] not in ("pass", "skip")}
    assert (code == 0) == (not {k for k, v in problems.items() if v in ("fail", "error")}), (code, problems)
    # The OpenBao dev server stands in for Vault under a config saying vault.flavor: vault: vault.reachable warns
    # of that mismatch in every phase, so it is not a finding of the rotation.
    if server_under_test()[1] == "openbao" and problems.get("vault.reachable") == "warn":
        reachable = next(c for c in checks if c["id"] == "vault.reachable")
        assert "the config says vault.flavor: vault" in reachable["finding"], reachable
        del problems["vault.reachable"]
    return problems


def leaf_verifies(ca_dir: Path, roots: list[x509.Certificate]) -> str:
    """A workload leaf istiod would issue from the CA in `ca_dir` (its key, its chain), verified as a peer with
    `roots` as trust anchors: '' when Go would accept it, else Go's reason."""
    ca_cert = pems(ca_dir / "ca-cert.pem")[0]
    ca_key = load_pem_private_key((ca_dir / "ca-key.pem").read_bytes(), None)
    now = dt.datetime.now(dt.timezone.utc)
    leaf = workload_leaf(ca_cert, ca_key, SPIFFE, now)  # type: ignore[arg-type]
    chain = [cert for cert in pems(ca_dir / "cert-chain.pem") if cert.issuer != cert.subject]
    try:
        verify(leaf, Options(roots=roots, intermediates=chain, now=now))
    except VerifyError as error:
        return str(error)
    return ""


def plan_rotation(env: dict[str, str], config: str, out: Path, *extra: str) -> tuple[int, str, str]:
    return cli(env, "plan-rotation", "--root", "-c", config, "-o", str(out), *extra)


def run_twice(out: Path, env: dict[str, str], script: str) -> str:
    outputs = []
    for run in ("first", "again"):
        result = run_setup(out, env, script)
        assert result.returncode == 0, (script, run, result.stdout + result.stderr)
        outputs.append(result.stdout + result.stderr)
    assert "PRIVATE KEY" not in "".join(outputs)
    return outputs[1]


def test_the_whole_root_rotation_rehearsed(tmp_path: Path) -> None:
    configured = configure(tmp_path, CONFIG)
    env, config = configured.env, str(configured.config_path)
    client = hvac.Client(url=configured.server.address, token=configured.server.token)
    policy = "istioca"
    before_overlay = configured.tree / OVERLAY
    out = tmp_path / "rotation"
    pods = tmp_path / "pods"
    pods.mkdir(mode=0o700)

    def agents(phase: str, after_overlay: Path | None) -> tuple[Path, Path | None]:
        before = run_agent(env, before_overlay, pods / f"{phase}-before", policy)
        after = run_agent(env, after_overlay, pods / f"{phase}-after", policy) if after_overlay else None
        return before, after

    try:
        assert f'Policy "{policy}"' in (configured.tree / "policy.hcl").read_text(encoding="utf-8")
        old_root = x509.load_pem_x509_certificate(client.read("pki/cert/ca")["data"]["certificate"].encode())

        # Before the rotation: verify chain --from-vault reads root-cert.pem from the root mount, no phase named.
        code, checks = from_vault(env, config)
        assert code == 0 and checks["chain.trust-bundle"]["finding"].startswith(
            "root-cert.pem from pki/cert/ca holds one"
        )
        assert "root rotation" not in json.dumps(checks)

        # Phase (a): the new root and the bundle; nothing the agents read changes yet.
        code, stdout, stderr = plan_rotation(env, config, out)
        assert code == 1 and "next phase: a" in stdout, stdout + stderr
        again = run_twice(out, env, "root/a-new-root.sh")
        # From now on verify chain --from-vault judges root-cert.pem as the phase-(b) overlay renders it: the bundle.
        from_vault_in_phase(env, config, "root rotation in phase (b): the trust bundle with both roots", "2 roots")
        assert "already exists" in again and "keeping it" in again
        before, _ = agents("a", None)
        code, checks = judge(env, before)
        assert code == 0 and pems(before / "root-cert.pem") == [old_root]
        baseline_warnings = warnings(checks)
        root_file_before = (before / "root-cert.pem").read_bytes()

        # Phase (b) rendered: the policy, its script, the overlay with multi-root and the bundle's template.
        code, stdout, stderr = plan_rotation(env, config, out)
        assert code == 1 and "next phase: b" in stdout, stdout + stderr
        phase_b = out / "root" / "b" / CLUSTER
        overlay_text = (phase_b / OVERLAY).read_text(encoding="utf-8")
        assert "ISTIO_MULTIROOT_MESH" in overlay_text and "istio-trust-bundle" in overlay_text
        policy_text = (phase_b / "policy.hcl").read_text(encoding="utf-8")
        assert '"kv/istio-trust-bundle"' in policy_text and '"pki/cert/ca"' in policy_text
        assert "istio-trust-bundle" in (phase_b / "root-cert.pem.ctmpl").read_text(encoding="utf-8")
        # The unsafe orders, refused with the reason, exit 1, nothing rendered over phase (b)'s files.
        code, stdout, stderr = plan_rotation(env, config, out, "--phase", "c")
        assert code == 1 and "refused: phase (c), a new intermediate signed by the new root" in stderr
        code, stdout, stderr = plan_rotation(env, config, out, "--phase", "d")
        assert code == 1 and "refused: phase (d), removing the old root" in stderr
        assert "still on the old root: default" in stderr
        assert (phase_b / "policy.hcl").is_file()
        assert vault_problems(env, config) == {}
        assert "already up to date" in run_twice(out, env, f"root/b/{CLUSTER}/vault/06-policy.sh")
        # verify vault knows the rotation's policy (it also reads the bundle) from the rendered one.
        assert vault_problems(env, config) == {}
        before, after = agents("b", phase_b / OVERLAY)
        assert after is not None
        bundle = pems(after / "root-cert.pem")
        assert len(bundle) == 2 and bundle[0] == old_root
        new_root = bundle[1]
        # istiod 1.20-1.29 takes a new root-cert.pem only when one holds the other byte for byte (bytes.Contains).
        bundle_file = (after / "root-cert.pem").read_bytes()
        assert root_file_before in bundle_file and root_file_before != bundle_file
        for directory in (before, after):
            code, checks = judge(env, directory)
            assert code == 0, checks
        # The two roots are a rotation to finish: chain.trust-bundle warns, with what istiod needs meanwhile.
        assert warnings(checks) == baseline_warnings | {"chain.trust-bundle"}
        assert "holds 2 roots" in checks["chain.trust-bundle"]["finding"]
        assert "ISTIO_MULTIROOT_MESH=true" in checks["chain.trust-bundle"]["hint"]
        assert "the bundle holds a newer root" in checks["chain.signing-root"]["finding"]
        old_ca = pods / "old-ca"
        shutil.copytree(before, old_ca)
        assert leaf_verifies(old_ca, bundle) == ""  # a leaf under the old intermediate, the phase-(b) bundle
        # The delivery, confirmed from the directory the phase-(b) agent wrote; then (c) is the next phase.
        code, stdout, stderr = plan_rotation(env, config, out, "--confirm-bundle", str(before))
        assert code == 1 and "does not hold exactly the 2 roots" in stderr
        code, stdout, stderr = plan_rotation(env, config, out, "--confirm-bundle", str(after))
        assert "delivery confirmed" in stdout and "next phase: c" in stdout, stdout + stderr
        code, stdout, stderr = plan_rotation(env, config, out)
        assert code == 1 and "next phase: c" in stdout and "refused" not in stderr, stdout + stderr
        checks = from_vault_in_phase(env, config, "root rotation in phase (c): the bundle is delivered", "2 roots")
        assert "the bundle holds a newer root" in checks["chain.signing-root"]["finding"]
        # With istiod's own token (the phase-(b) policy: the bundle, not the root mount's issuers) the bundle is
        # still recognised, the phase said to be unknown, with the reason.
        token = policy_token(env, policy)
        from_vault_in_phase(
            {**env, "VAULT_TOKEN": token},
            config,
            "root rotation under way (trust bundle at kv/istio-trust-bundle), its phase unknown: the token may not "
            "read the root mount's issuers and each intermediate, as plan-rotation --root does)",
            "2 roots",
        )

        # Phase (c): the intermediate re-issued under the new root, a new key; the old issuer kept.
        old_issuer = client.read("istioca/config/issuers")["data"]["default"]
        script = f"root/c/{CLUSTER}/reissue-intermediate.sh"
        # Interrupted before its last step (the stored key replaced): the new intermediate is the default, but its
        # key is only staged. plan-rotation sees the re-issue unfinished, keeps (d) refused and renders (c) again.
        text = (out / script).read_text(encoding="utf-8")
        assert text.count('\nstore_new_key "$new_key_id"\n') == 1
        interrupted = tmp_path / "interrupted.sh"
        interrupted.write_text(text.replace('\nstore_new_key "$new_key_id"\n', "\nexit 0\n"), encoding="utf-8")
        result = run_setup(tmp_path, env, interrupted.name)
        assert result.returncode == 0 and "now signs with the new intermediate" in result.stdout, result.stderr
        code, stdout, stderr = plan_rotation(env, config, out)
        assert code == 1 and "re-issue unfinished (staged key still in KV): default" in stdout, stdout + stderr
        assert "next phase: c" in stdout
        code, stdout, stderr = plan_rotation(env, config, out, "--phase", "d")
        assert code == 1 and "still on the old root: default" in stderr
        code, stdout, stderr = plan_rotation(env, config, out)
        again = run_twice(out, env, script)
        assert "already signs with the new intermediate" in again and "nothing to do" in again
        assert "stored the new key" not in again
        assert "istiod 1.19+ reloads them without a restart" in again
        assert client.read(f"istioca/issuer/{old_issuer}") is not None
        # Phase (d) too early: the time every intermediate was re-issued is recorded now, and the wait refused.
        code, stdout, stderr = plan_rotation(env, config, out)
        assert code == 1 and "refused: phase (d) before the longest workload certificate TTL (86400s)" in stderr
        # The new intermediate chains to the bundle's new root: verify chain --from-vault passes, naming the phase
        # (before, it compared the chain with the root mount's default, the old root, and failed).
        checks = from_vault_in_phase(
            env, config, "root rotation before phase (d): every intermediate chains", "2 roots"
        )
        assert "it is the newest root of the bundle" in checks["chain.signing-root"]["finding"]
        assert "left (until" in stderr and "--skip-ttl-wait" in stderr
        before, after = agents("c", phase_b / OVERLAY)
        assert after is not None
        code, checks = judge(env, after)
        assert code == 0 and pems(after / "cert-chain.pem")[-1] == new_root, checks
        assert warnings(checks) == baseline_warnings | {"chain.trust-bundle"}
        assert "it is the newest root of the bundle" in checks["chain.signing-root"]["finding"]
        assert leaf_verifies(after, bundle) == ""  # a leaf under the new intermediate, the phase-(b) bundle
        assert leaf_verifies(old_ca, pems(after / "root-cert.pem")) == ""  # the old one, still
        # The overlay from before the rotation trusts only the old root: the new intermediate does not verify.
        code, checks = judge(env, before)
        assert code == 1 and checks["chain.path-valid"]["status"] == "fail"
        # verify vault: the intermediate is not signed by the root mount's default (the old root until (d)), but by
        # the new root of the trust bundle, which holds both: a root rotation under way, not a failure.
        assert vault_problems(env, config) == {}
        code, stdout, stderr = cli(env, "verify", "vault", "-c", config, "--output", "json")
        issuer = next(c for c in json.loads(stdout)["checks"] if c["id"] == "vault.intermediate-issuer")
        signed_by = "is signed by the new root example.com Root CA of the trust bundle at kv/istio-trust-bundle"
        assert signed_by in issuer["finding"]

        # Phase (d): forced past the wait; the bundle holds the new root only, which becomes the default issuer.
        code, stdout, stderr = plan_rotation(env, config, out, "--skip-ttl-wait")
        assert code == 1 and "next phase: d" in stdout and "every intermediate re-issued by:" in stdout
        again = run_twice(out, env, "root/d-new-root-only.sh")
        assert "already holds the new root only" in again and "already the default issuer" in again
        before, after = agents("d", phase_b / OVERLAY)
        assert after is not None
        for directory in (before, after):
            code, checks = judge(env, directory)
            assert code == 0 and pems(directory / "root-cert.pem") == [new_root], checks
            assert "holds one root" in checks["chain.trust-bundle"]["finding"]
        assert "x509: certificate signed by unknown authority" in leaf_verifies(old_ca, [new_root])
        new_only_file = (after / "root-cert.pem").read_bytes()
        assert new_only_file in bundle_file and new_only_file != bundle_file  # (d) qualifies byte for byte too
        assert leaf_verifies(after, [new_root]) == ""
        old_root_issuer = client.read("kv/istio-trust-bundle")["data"]["old_issuer"]
        assert client.read(f"pki/issuer/{old_root_issuer}")["data"]["key_id"]  # the old root and its key kept
        code, stdout, stderr = plan_rotation(env, config, out)
        assert code == 0 and "next phase: done" in stdout, stdout + stderr
        from_vault_in_phase(env, config, "root rotation done: the trust bundle holds the new root only", "one root")
        assert vault_problems(env, config) == {}
    finally:
        shutil.rmtree(pods, ignore_errors=True)
        configured.server.stop()
