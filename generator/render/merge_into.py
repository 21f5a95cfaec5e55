"""`render --merge-into FILE`: our istiod patches written into the user's own TSB `ControlPlane` or `IstioOperator`.

Round trip with ruamel (comments, key order and quoting kept; the file's indentation detected), and idempotent:
only what this tool renders is replaced (`tsb.is_ours`: vault-k8s annotation keys, our env names,
holdApplicationUntilProxyStarts, and the whole-list / whole-map forms of earlier releases), everything else of the
user's is left where it is. A second run finds nothing to change and does not touch the file.

- ControlPlane: TSB applies one `kubeSpec.overlays` entry per object (its kube-customization page: the last wins),
  so our patches go into the user's entry for the IstioOperator (`istiod.operator_name`); several entries for it
  become one (the first, the others' patches appended in order), none becomes a new entry.
- IstioOperator: `spec.components.pilot.k8s.podAnnotations` and `spec.values.pilot.env` get our keys; a `k8s.env`
  entry with one of our env names is removed, since that strategic merge patch (postprocess.go postProcess)
  would win over `values.pilot.env`.
"""

from __future__ import annotations

import io
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import MergeIntoError
from .installers import tsb
from .installers.common import VAULT_ANNOTATION_PREFIX, hold

if TYPE_CHECKING:
    from ruamel.yaml import YAML

    from ..config.plan import ClusterPlan

# (mapping, sequence, offset) indentations tried in turn: the first that reproduces the file unchanged is kept.
INDENTS = ((2, 4, 2), (2, 2, 0), (4, 4, 2), (4, 6, 4), (4, 4, 0))
MAX_FILE_BYTES = 4 * 1024 * 1024


@dataclass
class MergeResult:
    kind: str
    changes: list[str] = field(default_factory=list)
    written: bool = False
    what: str = "istiod patches"
    # What the merge found contradictory but not blocking (said on stderr, on every run: not cleared as changes are).
    warnings: list[str] = field(default_factory=list)
    # The file's text before and after the merge (equal when nothing changed): a preview shows their diff.
    before: str = ""
    after: str = ""


def _yaml(indent: tuple[int, int, int]) -> YAML:
    from ruamel.yaml import YAML

    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.width = 4096
    mapping, sequence, offset = indent
    yaml.indent(mapping=mapping, sequence=sequence, offset=offset)
    return yaml


def _dump(yaml: YAML, documents: list[Any]) -> str:
    buffer = io.StringIO()
    if len(documents) == 1:
        yaml.dump(documents[0], buffer)
    else:
        yaml.dump_all(documents, buffer)
    return buffer.getvalue()


def _load(path: Path) -> tuple[YAML, list[Any], str]:
    from ruamel.yaml.error import YAMLError

    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            raise MergeIntoError(f"{path}: larger than {MAX_FILE_BYTES} bytes")
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise MergeIntoError(f"cannot read {path}: {error}") from None
    chosen: tuple[YAML, list[Any]] | None = None
    for indent in INDENTS:
        yaml = _yaml(indent)
        try:
            documents = [d for d in yaml.load_all(text) if d is not None]
        except YAMLError as error:
            raise MergeIntoError(f"{path}: not YAML ({type(error).__name__})") from None
        if chosen is None:
            chosen = (yaml, documents)
        if _dump(yaml, documents) == text:
            return yaml, documents, text
    assert chosen is not None
    return chosen[0], chosen[1], text


def _target(path: Path, documents: list[Any]) -> Any:
    found = [d for d in documents if isinstance(d, dict) and d.get("kind") in ("ControlPlane", "IstioOperator")]
    if len(found) != 1:
        raise MergeIntoError(
            f"{path}: holds {len(found)} ControlPlane / IstioOperator documents; --merge-into needs exactly one",
            "pass the file of your TSB ControlPlane CR or of your IstioOperator",
        )
    return found[0]


def _child(parent: Any, key: str, kind: type, where: str) -> Any:
    from ruamel.yaml.comments import CommentedMap, CommentedSeq

    value = parent.get(key)
    if value is None:
        value = CommentedMap() if kind is dict else CommentedSeq()
        parent[key] = value
    if not isinstance(value, kind):
        raise MergeIntoError(f"{where}.{key} is a {type(value).__name__}, expected a {kind.__name__}")
    return value


def _scalar(value: Any) -> Any:
    from ruamel.yaml.scalarstring import LiteralScalarString

    return LiteralScalarString(value) if isinstance(value, str) and "\n" in value else value


def _merge_controlplane(plan: ClusterPlan, document: Any, changes: list[str]) -> None:
    from ruamel.yaml.comments import CommentedMap, CommentedSeq

    where = "spec"
    node = _child(document, "spec", dict, "")
    for key in ("components", "istio", "kubeSpec"):
        node = _child(node, key, dict, where)
        where += f".{key}"
    overlays = _child(node, "overlays", list, where)
    name = plan.config.istiod.operator_name
    entries = [
        i
        for i, o in enumerate(overlays)
        if isinstance(o, dict) and o.get("kind") == "IstioOperator" and o.get("name") == name
    ]
    if not entries:
        entry = CommentedMap([("apiVersion", tsb.ISTIO_OPERATOR_API), ("kind", "IstioOperator"), ("name", name)])
        entry["patches"] = CommentedSeq()
        overlays.append(entry)
        changes.append(f"added overlay entry IstioOperator/{name} to {where}.overlays")
    else:
        entry = overlays[entries[0]]
        for index in reversed(entries[1:]):
            extra = overlays[index].get("patches") or []
            _child(entry, "patches", list, f"{where}.overlays[{entries[0]}]").extend(extra)
            del overlays[index]
            changes.append(
                f"folded overlay entry #{index + 1} for IstioOperator/{name} into the first one (only one applies)"
            )
    patches = _child(entry, "patches", list, f"{where}.overlays[IstioOperator/{name}]")
    env_names = set(plan.env)
    wanted = tsb.patches(plan)
    old = {p["path"]: p.get("value") for p in patches if tsb.is_ours(p, env_names)}
    current = [(p["path"], p.get("value")) for p in patches if tsb.is_ours(p, env_names)]
    if current == [(p["path"], p["value"]) for p in wanted]:
        return
    first = next((i for i, p in enumerate(patches) if tsb.is_ours(p, env_names)), len(patches))
    keep = [p for i, p in enumerate(patches) if i < first or not tsb.is_ours(p, env_names)]
    before = sum(1 for i, p in enumerate(patches) if i < first and not tsb.is_ours(p, env_names))
    new_patches = [CommentedMap([("path", p["path"]), ("value", _scalar(p["value"]))]) for p in wanted]
    patches[:] = keep[:before] + new_patches + keep[before:]
    new = {p["path"]: p["value"] for p in wanted}
    for path, value in new.items():
        if path not in old:
            changes.append(f"added patch {path}")
        elif old[path] != value:
            changes.append(f"changed patch {path}")
    changes += [f"removed patch {path} (ours, no longer rendered)" for path in old if path not in new]
    if not any(line.startswith(("added patch", "changed patch", "removed patch")) for line in changes):
        changes.append("reordered our patches")


def _set(mapping: Any, key: str, value: Any, where: str, changes: list[str]) -> None:
    if key not in mapping:
        mapping[key] = _scalar(value)
        changes.append(f"added {where}.{key}")
    elif mapping[key] != value:
        mapping[key] = _scalar(value)
        changes.append(f"changed {where}.{key}")


def _merge_istio_operator(plan: ClusterPlan, document: Any, changes: list[str]) -> None:
    spec = _child(document, "spec", dict, "")
    k8s = _child(
        _child(_child(spec, "components", dict, "spec"), "pilot", dict, "spec.components"),
        "k8s",
        dict,
        "spec.components.pilot",
    )
    annotations = _child(k8s, "podAnnotations", dict, "spec.components.pilot.k8s")
    wanted = plan.annotations()
    where = "spec.components.pilot.k8s.podAnnotations"
    for key in [k for k in annotations if str(k).startswith(VAULT_ANNOTATION_PREFIX) and k not in wanted]:
        del annotations[key]
        changes.append(f"removed {where}.{key} (ours, no longer rendered)")
    for key, value in wanted.items():
        _set(annotations, key, value, where, changes)
    env = _child(
        _child(_child(spec, "values", dict, "spec"), "pilot", dict, "spec.values"), "env", dict, "spec.values.pilot"
    )
    for name, value in sorted(plan.env.items()):
        _set(env, name, value, "spec.values.pilot.env", changes)
    k8s_env = k8s.get("env")
    if isinstance(k8s_env, list):
        for index in reversed(range(len(k8s_env))):
            item = k8s_env[index]
            if isinstance(item, dict) and item.get("name") in plan.env:
                del k8s_env[index]
                changes.append(
                    f"removed spec.components.pilot.k8s.env entry {item['name']} (it would override "
                    "spec.values.pilot.env, which now carries it)"
                )
        if not k8s_env:
            del k8s["env"]
    if hold(plan):
        default_config = _child(_child(spec, "meshConfig", dict, "spec"), "defaultConfig", dict, "spec.meshConfig")
        _set(default_config, "holdApplicationUntilProxyStarts", True, "spec.meshConfig.defaultConfig", changes)


def merge_into(plan: ClusterPlan, path: Path, *, write: bool = True) -> MergeResult:
    """Merge `plan`'s istiod patches into the CR in `path` (with vault.flavor openbao, a Helm values file gets the
    OpenBao chart values and the audit stanza: openbao_values.py); rewrite the file only when something changed."""
    yaml, documents, text = _load(path)
    if plan.config.vault.flavor == "openbao" and _helm_values(documents):
        from ruamel.yaml.comments import CommentedMap

        from . import openbao_values

        if not documents:
            documents.append(CommentedMap())
        result = MergeResult(kind="OpenBao Helm values", what="OpenBao chart values and audit stanza")
        openbao_values.merge_values(plan, documents[0], result.changes, result.warnings)
        return _write(path, yaml, documents, text, result, write=write)
    document = _target(path, documents)
    result = MergeResult(kind=str(document["kind"]))
    if result.kind == "ControlPlane":
        _merge_controlplane(plan, document, result.changes)
    else:
        _merge_istio_operator(plan, document, result.changes)
    return _write(path, yaml, documents, text, result, write=write)


def _helm_values(documents: list[Any]) -> bool:
    """One mapping without `kind` (or an empty file): a Helm values file, not a Kubernetes object."""
    return not documents or (len(documents) == 1 and isinstance(documents[0], dict) and "kind" not in documents[0])


def _write(path: Path, yaml: YAML, documents: list[Any], text: str, result: MergeResult, *, write: bool) -> MergeResult:
    """Rewrite `path` only when the merge changed it (atomically, keeping its mode); `write` False: a preview."""
    output = _dump(yaml, documents)
    result.before, result.after = text, output
    if output == text:
        result.changes.clear()
        return result
    if not result.changes:
        result.changes.append("re-indented the file")
    if not write:
        return result
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(output)
        os.chmod(tmp, path.stat().st_mode & 0o7777)
        os.replace(tmp, path)
    except OSError as error:
        Path(tmp).unlink(missing_ok=True)
        raise MergeIntoError(f"cannot write {path}: {error.strerror or error}") from None
    result.written = True
    return result
