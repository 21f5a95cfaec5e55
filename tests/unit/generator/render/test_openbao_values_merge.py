"""Issue 27 section 3: with `vault.flavor: openbao` the render never replaces the user's server config.

The rendered `openbao-helm-values.yaml` holds maps and flags only; `render --merge-into VALUES` writes those and
the audit stanza into the user's own values file (the stanza at the end of the config string the chart hands the
server), refuses what cannot work (an https:// vault.address on a tls_disable listener, a duplicate audit path,
HA without its config) and warns on an http:// address with TLS on. What a user sees: the file, the exit code and
the messages.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import hcl2
import pytest
from ruamel.yaml import YAML

from istio_vault_ca.generator.config.model import Config
from istio_vault_ca.generator.config.plan import ClusterPlan, plan
from istio_vault_ca.generator.errors import MergeIntoError
from istio_vault_ca.generator.render.merge_into import merge_into
from istio_vault_ca.generator.render.openbao_values import BEGIN, END
from istio_vault_ca.verify.cli.parser import main

AUDIT_LOG = "/openbao/audit/audit.log"

# A production-like standalone config: TLS listener, raft storage, a transit seal, comments in the file.
THEIRS = """\
# our OpenBao release
global:
  tlsDisable: false
server:
  extraVolumes:
    - type: secret
      name: openbao-tls   # the server certificate
  standalone:
    config: |
      ui = true
      listener "tcp" {
        address = "[::]:8200"
        tls_cert_file = "/openbao/userconfig/openbao-tls/tls.crt"
        tls_key_file = "/openbao/userconfig/openbao-tls/tls.key"
      }
      storage "raft" {
        path = "/openbao/data"
      }
      seal "transit" {
        address = "https://transit.example:8200"
        key_name = "autounseal"
      }
"""


def _config(address: str = "https://openbao.example:8200", **vault: Any) -> Config:
    return Config.model_validate(
        {"vault": {"cli": "bao", "flavor": "openbao", "address": address, "audit": {"file_path": AUDIT_LOG}, **vault}}
    )


def _plan(address: str = "https://openbao.example:8200", **vault: Any) -> ClusterPlan:
    return plan(_config(address, **vault))[0]


def _load(path: Path) -> Any:
    return YAML(typ="safe", pure=True).load(path.read_text(encoding="utf-8"))


def _write_config(tmp_path: Path, address: str, **vault: Any) -> Path:
    path = tmp_path / f"{address.split(':', 1)[0]}.yaml"
    audit = {"file_path": AUDIT_LOG, **vault.pop("audit", {})}
    data = {"vault": {"cli": "bao", "flavor": "openbao", "address": address, "audit": audit, **vault}}
    YAML(typ="safe", pure=True).dump(data, path)
    return path


def test_merge_keeps_their_listener_storage_and_seal_and_appends_the_stanza(tmp_path: Path) -> None:
    target = tmp_path / "values.yaml"
    target.write_text(THEIRS)
    result = merge_into(_plan(), target)
    assert result.written and result.kind == "OpenBao Helm values" and not result.warnings
    assert "added the audit stanza at the end of server.standalone.config" in result.changes
    assert "added server.auditStorage.enabled" in result.changes
    text = target.read_text()
    assert text.startswith("# our OpenBao release\n") and "# the server certificate" in text, "comments kept"
    values = _load(target)
    config = values["server"]["standalone"]["config"]
    original = _load_text(THEIRS)["server"]["standalone"]["config"]
    assert config.startswith(original), "their config is kept, byte for byte, in front of ours"
    parsed = hcl2.loads(config)
    assert {"listener", "storage", "seal", "audit"} <= set(parsed)
    assert "tls_cert_file" in str(parsed["listener"]) and '"raft"' in str(parsed["storage"])
    assert config.count(BEGIN) == 1 and config.rstrip().endswith(END)
    assert values["server"]["auditStorage"] == {"enabled": True, "mountPath": "/openbao/audit"}
    assert values["server"]["extraVolumes"] == [{"type": "secret", "name": "openbao-tls"}], "their list kept"
    assert values["injector"]["enabled"] is True and values["global"] == {"tlsDisable": False}
    before = target.read_bytes()
    again = merge_into(_plan(), target)
    assert again.changes == [] and not again.written and target.read_bytes() == before


def _load_text(text: str) -> Any:
    return YAML(typ="safe", pure=True).load(text)


def test_a_changed_audit_device_replaces_only_our_block(tmp_path: Path) -> None:
    target = tmp_path / "values.yaml"
    target.write_text(THEIRS)
    merge_into(_plan(), target)
    moved = plan(
        Config.model_validate(
            {
                "vault": {
                    "cli": "bao",
                    "flavor": "openbao",
                    "address": "https://openbao.example:8200",
                    "audit": {"file_path": "/openbao/logs/audit.log"},
                }
            }
        )
    )[0]
    result = merge_into(moved, target)
    assert "changed the audit stanza at the end of server.standalone.config" in result.changes
    assert "changed server.auditStorage.mountPath from '/openbao/audit' to '/openbao/logs'" in result.changes
    config = _load(target)["server"]["standalone"]["config"]
    assert config.count(BEGIN) == 1 and config.count('audit "file"') == 1
    assert '"/openbao/logs/audit.log"' in config and AUDIT_LOG not in config


def test_ha_raft_gets_the_stanza_in_its_own_config(tmp_path: Path) -> None:
    target = tmp_path / "values.yaml"
    target.write_text(
        "server:\n  ha:\n    enabled: true\n    raft:\n      enabled: true\n      config: |\n"
        '        listener "tcp" {\n          address = "[::]:8200"\n          tls_disable = "true"\n        }\n'
        '        storage "raft" {\n          path = "/openbao/data"\n        }\n'
    )
    result = merge_into(_plan("http://openbao.openbao:8200"), target)
    assert "added the audit stanza at the end of server.ha.raft.config" in result.changes
    server = _load(target)["server"]
    assert "standalone" not in server and "audit" in hcl2.loads(server["ha"]["raft"]["config"])


def test_ha_without_its_config_is_refused(tmp_path: Path) -> None:
    target = tmp_path / "values.yaml"
    target.write_text("server:\n  ha:\n    enabled: true\n")
    with pytest.raises(MergeIntoError, match=r"sets no server\.ha\.config") as error:
        merge_into(_plan("http://x:8200"), target)
    assert "set server.ha.config in the file" in error.value.hint
    assert target.read_text() == "server:\n  ha:\n    enabled: true\n", "a refusal writes nothing"


@pytest.mark.parametrize("flag", ["tls_disable = 1", 'tls_disable = "true"', "tls_disable = TRUE", "tls_disable=t"])
def test_an_https_address_on_a_plain_http_listener_is_refused(tmp_path: Path, flag: str) -> None:
    target = tmp_path / "values.yaml"
    target.write_text(f'server:\n  standalone:\n    config: |\n      listener "tcp" {{\n        {flag}\n      }}\n')
    with pytest.raises(MergeIntoError, match="sets tls_disable") as error:
        merge_into(_plan("https://openbao.example:8200"), target)
    assert "tls_cert_file" in error.value.hint and "http://" in error.value.hint


def test_tls_disable_false_is_not_taken_for_disabled(tmp_path: Path) -> None:
    target = tmp_path / "values.yaml"
    target.write_text(
        'server:\n  standalone:\n    config: |\n      listener "tcp" {\n        tls_disable = 0\n      }\n'
    )
    assert merge_into(_plan("https://openbao.example:8200"), target).written


def test_an_empty_file_gets_the_charts_default_and_says_so(tmp_path: Path) -> None:
    target = tmp_path / "values.yaml"
    target.write_text("")
    result = merge_into(_plan("http://127.0.0.1:8200"), target)
    assert any(c.startswith("added server.standalone.config: the chart's default") for c in result.changes)
    config = hcl2.loads(_load(target)["server"]["standalone"]["config"])
    assert {"listener", "storage", "audit"} <= set(config)


def test_the_charts_default_contradicts_an_https_address(tmp_path: Path) -> None:
    target = tmp_path / "values.yaml"
    target.write_text("injector:\n  enabled: true\n")
    with pytest.raises(MergeIntoError, match=r"https://openbao\.example:8200 but the tcp listener"):
        merge_into(_plan(), target)


def test_a_declared_audit_path_outside_our_markers_is_refused(tmp_path: Path) -> None:
    target = tmp_path / "values.yaml"
    target.write_text(
        "server:\n  standalone:\n    config: |\n"
        '      audit "file" "file/" {\n        options {\n          file_path = "/x.log"\n        }\n      }\n'
    )
    with pytest.raises(MergeIntoError, match="already declares an audit device at file/"):
        merge_into(_plan("http://x:8200"), target)


def test_cli_exit_codes_and_messages(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    values = tmp_path / "values.yaml"
    values.write_text(THEIRS)
    https = _write_config(tmp_path, "https://openbao.example:8200")
    assert main(["render", "-c", str(https), "--merge-into", str(values)]) == 0
    out = capsys.readouterr().out
    assert "merged cluster default's OpenBao chart values and audit stanza into the OpenBao Helm values" in out
    assert main(["render", "-c", str(https), "--merge-into", str(values)]) == 0
    assert "unchanged" in capsys.readouterr().out
    http = _write_config(tmp_path, "http://openbao.example:8200")
    assert main(["render", "-c", str(http), "--merge-into", str(values)]) == 0
    err = capsys.readouterr().err
    assert "warning: vault.address is http://openbao.example:8200 but the tcp listener" in err
    plain = tmp_path / "plain.yaml"
    plain.write_text(
        'server:\n  standalone:\n    config: |\n      listener "tcp" {\n        tls_disable = 1\n      }\n'
    )
    assert main(["render", "-c", str(https), "--merge-into", str(plain)]) == 2
    err = capsys.readouterr().err
    assert "sets tls_disable" in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()


def test_rendered_openbao_values_carry_no_config_string() -> None:
    from istio_vault_ca.generator.render.tree import render_tree

    values = _load_text(render_tree(_config())["openbao-helm-values.yaml"].content.decode())
    assert values == {
        "injector": {"enabled": True},
        "server": {
            "enabled": True,
            "dev": {"enabled": False},
            "authDelegator": {"enabled": True},
            "auditStorage": {"enabled": True, "mountPath": "/openbao/audit"},
        },
    }


def test_merge_into_with_diff_previews_and_never_writes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    values = tmp_path / "values.yaml"
    values.write_text(THEIRS)
    config = _write_config(tmp_path, "https://openbao.example:8200")
    assert main(["render", "-c", str(config), "--merge-into", str(values), "--diff"]) == 0
    out = capsys.readouterr().out
    assert values.read_text() == THEIRS, "a preview wrote the file"
    assert "would merge cluster default's" in out and "nothing written" in out
    assert f"+      {BEGIN}" in out and "+  auditStorage:" in out
