"""What the installer modules share: istiod's env as the list form Kubernetes uses, Istio operator paths, and
reading values back."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from ...config.injectors import ANNOTATION_PREFIXES
from ...config.installers import ISTIOD_UID
from ...errors import OverlayError

if TYPE_CHECKING:
    from ...config.plan import ClusterPlan

# istiod's uid under the installers that use Istio's istio-discovery chart (generator/config/installers.py says why).
ISTIO_CHART_UID = ISTIOD_UID["helm"]

# The injectors' annotation prefixes (vault-k8s, openbao-k8s: generator/config/injectors.py): every pod annotation
# we render starts with one, so a key with one in a user's CR is ours to replace (render --merge-into, verify
# cluster). A tuple, for str.startswith.
VAULT_ANNOTATION_PREFIX = ANNOTATION_PREFIXES


def hold(plan: ClusterPlan) -> bool:
    return plan.config.istiod.hold_application_until_proxy_starts


def read_env_list(items: Any) -> dict[str, str]:
    if not isinstance(items, list):
        return {}
    return {str(i["name"]): str(i.get("value", "")) for i in items if isinstance(i, dict) and "name" in i}


def read_env_map(values: Any) -> dict[str, str]:
    return {str(k): str(v) for k, v in values.items()} if isinstance(values, dict) else {}


def dig(document: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(document, dict):
            return None
        document = document.get(key)
    return document


# Istio's operator path syntax (istio/istio operator/pkg/util/path.go, release 1.31: PathFromString splits on `.`
# except where escaped as `\.`, splitEscaped): annotation keys hold dots, so each becomes `\.`.
def path_element(key: str) -> str:
    return key.replace(".", "\\.")


def split_path(path: str) -> list[str]:
    """Istio's split of a patch path (operator/pkg/util/path.go PathFromString): on unescaped `.`, escapes removed,
    `node[expr]` split in two, empty elements dropped."""
    elements: list[str] = []
    current = ""
    escaped = False
    for char in path:
        if escaped:
            current += char if char == "." else "\\" + char
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == ".":
            elements.append(current)
            current = ""
        else:
            current += char
    elements.append(current + ("\\" if escaped else ""))
    # PathFromString also splits `node[expr]` into `node`, `[expr]` (env[-1], env[name:X]).
    result: list[str] = []
    for element in elements:
        bracket = element.find("[")
        result += [element[:bracket], element[bracket:]] if bracket > 0 else [element]
    return [element for element in result if element]


def check_tpath_string(path: str, value: str) -> None:
    """Refuse a patch value Istio's operator would not keep as a string.

    istio/istio operator/pkg/tpath/tree.go (release 1.31) setValueContext passes every value through
    tryToUnmarshalStringToYAML: a one-line string holding `": "`, or a multi-line one holding `:`, that parses as a
    YAML mapping (and not as JSON) is written as that mapping, not as the string. The agent templates we render
    never parse as a mapping; a config whose value would (a secret path with `: ` in it) is refused here rather
    than rendered into an overlay that silently sets a map annotation."""
    from ruamel.yaml import YAML
    from ruamel.yaml.error import YAMLError

    lines = value.split("\n")
    if not ((len(lines) == 1 and ": " in value) or (len(lines) > 1 and ":" in value)):
        return
    try:
        json.loads(value)
        return
    except ValueError:
        pass
    try:
        parsed = YAML(typ="safe", pure=True).load(value)
    except YAMLError:
        return
    if isinstance(parsed, dict):
        raise OverlayError(
            f"patch {path}: its value parses as a YAML mapping, which Istio's operator (tpath) would write as a map",
            "change the config value so that it is not `key: value` YAML",
        )
