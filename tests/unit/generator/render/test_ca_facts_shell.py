"""The scripts' certificate reader (`ca_facts`, `ca_drift` in templates/vault/_ca_facts.sh.j2): what step 02, 04 and
07 say about a CA they keep, run in bash on certificates made here, equal to what the Python comparison finds."""

from __future__ import annotations

import datetime as dt
import subprocess

import pytest

from istio_vault_ca.generator.render.templating import render_template
from tests import pki_factory as pki

NOW = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
BACKDATE = dt.timedelta(seconds=30)


def _bash(script: str, stdin: str = "", **env: str) -> subprocess.CompletedProcess[str]:
    body = "set -euo pipefail\nsay() { printf '[test] %s\\n' \"$*\"; }\n" + render_template("vault/_ca_facts.sh.j2")
    return subprocess.run(
        ["bash", "-c", body + script],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
        env={"PATH": "/usr/bin:/bin", **env},
    )


def _ca(name: str, issuer: pki.Issued | None, kind: str, size: int, hours: int, path: int | None) -> pki.Issued:
    return pki.make_ca(
        name,
        issuer,
        subject_key=pki.key(kind, size, 5),
        not_before=NOW - BACKDATE,
        not_after=NOW + dt.timedelta(hours=hours),
        path_length=path,
    )


@pytest.mark.parametrize(
    ("kind", "size", "path", "key", "path_length"),
    [("rsa", 2048, 0, "rsa 2048", "0"), ("ec", 256, None, "ec 256", "-1"), ("ec", 384, 3, "ec 384", "3")],
)
def test_ca_facts_reads_what_the_certificate_holds(
    kind: str, size: int, path: int | None, key: str, path_length: str
) -> None:
    root = _ca("Wurzel Ä CA", None, "ec", 256, 87600, None)
    inter = _ca("mesh.example Intermediate", root, kind, size, 8760, path)
    result = _bash("ca_facts", inter.pem.decode())
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "issuer_cn=Wurzel Ä CA",
        f"lifetime={8760 * 3600 + 30}",
        "cn=mesh.example Intermediate",
        f"key={key}",
        f"path_length={path_length}",
    ]


def test_ca_drift_names_each_difference_and_the_fix() -> None:
    root = _ca("Root", None, "ec", 256, 87600, None)
    kept = _ca("Old Intermediate", root, "rsa", 2048, 43800, 0).pem.decode()
    script = (
        'ca_drift intermediate "istio-vault-ca plan-rotation --force east" "$PEM" intermediate '
        "'New Intermediate' ec 256 8760h 31536000 Root 0; echo \"drift=$CA_DRIFT\""
    )
    result = _bash(script, PEM=kept, CLUSTER="east", INT_OVERRIDES="common_name")
    assert result.returncode == 0, result.stderr
    see = "keeping it, see istio-vault-ca plan-rotation --force east"
    assert result.stdout.splitlines() == [
        "[test] the config asks for clusters[east].intermediate.common_name 'New Intermediate', "
        f"Vault holds 'Old Intermediate': {see}",
        f"[test] the config asks for intermediate.key_type ec, Vault holds rsa: {see}",
        f"[test] the config asks for intermediate.ttl at most 8760h, Vault holds a CA valid 43800h: {see}",
        "drift=3",
    ]


def test_ca_drift_is_quiet_for_a_matching_ca_and_says_when_it_cannot_read_one() -> None:
    root = _ca("Root", None, "ec", 256, 87600, None)
    same = _ca("Int", root, "ec", 256, 8760, 0).pem.decode()
    call = 'ca_drift intermediate fix "$PEM" intermediate Int ec 256 8760h 31536000 Root 0; echo "drift=$CA_DRIFT"'
    assert _bash(call, PEM=same).stdout == "drift=0\n"
    unreadable = _bash(call, PEM="not a certificate")
    assert unreadable.returncode == 0
    assert unreadable.stdout.splitlines() == [
        "[test] cannot read the intermediate's certificate to compare it with the config: run istio-vault-ca "
        "verify vault",
        "drift=0",
    ]
