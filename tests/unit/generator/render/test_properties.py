"""Property tests: free text cannot escape shell quoting, HCL strings or YAML; rendering is deterministic."""

from __future__ import annotations

import re
import subprocess
from typing import Any

import hcl2
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML

from istio_vault_ca.generator.config.model import Config
from istio_vault_ca.generator.render.manifests import dump
from istio_vault_ca.generator.render.templating import hcl_quote, sh_quote
from istio_vault_ca.generator.render.tree import render_tree

PRINTABLE = st.text(
    alphabet=st.characters(blacklist_categories=("Cc", "Cs"), blacklist_characters="\x7f"), min_size=1, max_size=64
).filter(lambda s: s.strip() and not s.startswith("@") and s != "-")
ANY_TEXT = st.text(alphabet=st.characters(blacklist_categories=["Cs"], blacklist_characters="\x00"), max_size=80)
FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def shell_value(assignment: str, name: str) -> str:
    # Bytes, not text mode: universal newlines would turn a quoted "\r" into "\n".
    result = subprocess.run(["bash", "-c", f'{assignment}\nprintf "%s" "${name}"'], capture_output=True, check=True)
    return result.stdout.decode()


@FAST
@given(ANY_TEXT)
def test_sh_quote_round_trips_any_text(text: str) -> None:
    assert shell_value(f"VALUE={sh_quote(text)}", "VALUE") == text


@FAST
@given(PRINTABLE, PRINTABLE)
def test_common_names_stay_one_shell_word(root_cn: str, intermediate_cn: str) -> None:
    config = Config.model_validate({"root": {"common_name": root_cn}, "intermediate": {"common_name": intermediate_cn}})
    tree = render_tree(config)
    root_script = tree["vault/02-root-pki.sh"].content.decode()
    intermediate_script = tree["vault/04-intermediate-pki.sh"].content.decode()
    root_line = re.search(r"^ROOT_CN=.*$", root_script, re.M)
    int_line = re.search(r"^INT_CN=.*$", intermediate_script, re.M)
    assert root_line and int_line
    assert shell_value(root_line.group(0), "ROOT_CN") == root_cn
    assert shell_value(int_line.group(0), "INT_CN") == intermediate_cn
    syntax = subprocess.run(["bash", "-n"], input=intermediate_script, text=True, capture_output=True, check=False)
    assert syntax.returncode == 0, syntax.stderr


@pytest.mark.parametrize("text", ["%{", "${", "a${b}", "%%{", "$${x"])
def test_hcl_quote_refuses_template_sequences(text: str) -> None:
    """Found by the property below on a day its examples held `%{`: no escape means the same to HCL 1 and 2."""
    with pytest.raises(ValueError, match="HCL template sequence"):
        hcl_quote(text)


@FAST
@given(ANY_TEXT)
def test_hcl_quote_cannot_break_out_of_the_string(text: str) -> None:
    if "${" in text or "%{" in text:
        with pytest.raises(ValueError, match="HCL template sequence"):
            hcl_quote(text)
        return
    quoted = hcl_quote(text)
    parsed = hcl2.loads(f'path {quoted} {{\n  capabilities = ["read"]\n}}\n')
    (block,) = parsed["path"]
    (label,) = [key for key in block if not key.startswith("__")]
    assert label == quoted, "the whole value is one string label"
    inner = quoted[1:-1]
    assert re.search(r'(?<!\\)"', inner.replace("\\\\", "")) is None
    assert "${" not in inner and "%{" not in inner


@FAST
@given(st.dictionaries(ANY_TEXT, ANY_TEXT, max_size=5))
def test_yaml_dump_round_trips_any_strings(values: dict[str, str]) -> None:
    document: Any = {"podAnnotations": values, "env": {"ROOT_CA_DIR": "/vault/secrets"}}
    loaded = YAML(typ="safe").load(dump(document, header="header"))
    expected = {key: value for key, value in values.items()}
    assert loaded["podAnnotations"] == expected


@FAST
@given(
    st.sampled_from([1, 2]),
    st.sampled_from(["local", "client-jwt"]),
    st.lists(st.sampled_from(["tsb-controlplane", "istio-operator", "helm"]), min_size=1, max_size=3, unique=True),
    st.from_regex(r"\A/[a-z][a-z0-9-]{0,10}(/[a-z0-9-]{1,8}){0,2}\Z"),
    PRINTABLE,
)
def test_rendering_is_deterministic(kv: int, reviewer: str, outputs: list[str], ca_dir: str, cn: str) -> None:
    auth: dict[str, Any] = {"reviewer": reviewer}
    if reviewer != "local":
        auth["kubernetes_host"] = "https://api.example.com:6443"
    data = {
        "kv": {"version": kv},
        "kubernetes_auth": auth,
        "istiod": {"outputs": outputs, "ca_dir": ca_dir},
        "intermediate": {"common_name": cn},
    }
    assert render_tree(Config.model_validate(data)) == render_tree(Config.model_validate(data))
