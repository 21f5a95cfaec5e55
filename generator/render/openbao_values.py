"""`render --merge-into VALUES` for `vault.flavor: openbao`: our chart values and the audit stanza written into the
user's own openbao/openbao values file, never a server config of ours in place of theirs.

Why a merge and not a values file layered with `-f`: the chart hands the server one config string. Its
`charts/openbao/templates/server-config-configmap.yaml` writes `server.standalone.config` or `server.ha.config`
(`server.ha.raft.config` with raft) into `extraconfig-from-values.hcl`, and `templates/_helpers.tpl`
`openbao.args` starts `bao server -config=/tmp/storageconfig.hcl {{ .Values.server.extraArgs }}` with that one file.
Helm replaces a string (and a list) of an earlier `-f` file wholesale (helm.sh/helm pkg/chart/loader `MergeMaps`), so
a rendered config string would drop the user's listener, storage and seal; the other ways to add a file
(`server.extraArgs`, a string; `server.extraVolumes`, a list) are replaced the same way. So the rendered
`openbao-helm-values.yaml` holds maps and flags only, and this module appends the stanza to the user's own config
string, between marker lines so that a re-run replaces only ours.

Refused: a file that already declares our audit path outside the markers (OpenBao would fail on the duplicate), an
HA install without its config string (the chart's default would be replaced), and an `https://` vault.address
while the config's listener disables TLS. An `http://` address with TLS on is reported as a warning.
"""

from __future__ import annotations

import re
from typing import Any

from ..config.plan import ClusterPlan, audit_declared, audit_stanza
from ..errors import MergeIntoError
from . import manifests

BEGIN = "# istio-vault-ca: audit device (begin; re-rendered by render --merge-into)"
END = "# istio-vault-ca: audit device (end)"
_OURS = re.compile(rf"\n?{re.escape(BEGIN)}\n.*?{re.escape(END)}\n?", re.DOTALL)
# `tls_disable = 1 | true | t | "1" | "true"` (any case): the forms OpenBao's config parser takes as true
# (openbao/openbao internalshared/configutil/listener.go ParseListeners: TLSDisableRaw through parseutil.ParseBool,
# which is Go's strconv.ParseBool).
_TLS_DISABLED = re.compile(r'\btls_disable\s*=\s*"?(1|true|t)"?(?![\w"])', re.IGNORECASE)
_LISTENER = re.compile(r'\blistener\s+"tcp"\s*\{')


def config_key(values: Any) -> tuple[str, ...]:
    """Which config string the chart reads for the user's mode (templates/_helpers.tpl `openbao.mode`)."""
    server = values.get("server") if isinstance(values, dict) else None
    ha = server.get("ha") if isinstance(server, dict) else None
    if isinstance(ha, dict) and ha.get("enabled") is True:
        raft = ha.get("raft")
        if isinstance(raft, dict) and raft.get("enabled") is True:
            return ("server", "ha", "raft", "config")
        return ("server", "ha", "config")
    return ("server", "standalone", "config")


def merged_config(plan: ClusterPlan, theirs: str | None, where: str, changes: list[str], warnings: list[str]) -> str:
    """The user's config string with our stanza (between the markers) at its end; `theirs` None: the chart's."""
    config = plan.config
    audit = config.vault.audit
    if theirs is None:
        if where != "server.standalone.config":
            raise MergeIntoError(
                f"the file enables {where.rsplit('.', 1)[0]} but sets no {where}: the audit stanza has nowhere "
                "to go, and a config of ours would replace the chart's",
                f"set {where} in the file (your listener, storage and seal), then run render --merge-into again",
            )
        theirs = manifests.OPENBAO_STANDALONE_CONFIG
        changes.append(
            f"added {where}: the chart's default (a tls_disable listener, file storage) with the audit stanza; "
            "put your own listener, storage and seal there"
        )
    body = _OURS.sub("\n", theirs).rstrip("\n")
    declared = re.search(rf'\baudit\s+"[^"]*"\s+"{re.escape(audit.path)}/?"', body)
    if declared:
        raise MergeIntoError(
            f"{where} already declares an audit device at {audit.path}/ outside istio-vault-ca's markers: "
            "OpenBao refuses a second one at the same path",
            f"remove that audit stanza from {where} (render --merge-into writes it), or set vault.audit.path "
            "to the path you declared",
        )
    _check_tls(plan, body, where, warnings)
    merged = f"{body}\n{BEGIN}\n{audit_stanza(audit)}{END}\n"
    if merged != theirs and not any(c.startswith(f"added {where}") for c in changes):
        changes.append(f"{'changed' if BEGIN in theirs else 'added'} the audit stanza at the end of {where}")
    return merged


def _check_tls(plan: ClusterPlan, body: str, where: str, warnings: list[str]) -> None:
    """The config's listener against vault.address: the scripts and the agents dial that address."""
    if not _LISTENER.search(body):
        return
    address = plan.config.vault.address
    disabled = bool(_TLS_DISABLED.search(body))
    if address.startswith("https://") and disabled:
        raise MergeIntoError(
            f"vault.address is {address} but the tcp listener in {where} sets tls_disable: clients would speak "
            "TLS to a plain-HTTP listener",
            f"give the listener in {where} its tls_cert_file and tls_key_file (and drop tls_disable), or set "
            "vault.address to http://",
        )
    if address.startswith("http://") and not disabled:
        warnings.append(
            f"vault.address is {address} but the tcp listener in {where} serves TLS: set vault.address to "
            "https:// (or the scripts and agents will fail to connect)"
        )


def merge_values(plan: ClusterPlan, document: Any, changes: list[str], warnings: list[str]) -> None:
    """Our values (maps and flags) set in the user's document, and the stanza appended to their config string."""
    from ruamel.yaml.comments import CommentedMap
    from ruamel.yaml.scalarstring import LiteralScalarString

    ours = manifests.openbao_helm_values(plan)
    _merge_map(document, ours, "", changes)
    server = document.get("server")
    if not audit_declared(plan.config) or not isinstance(server, dict) or server.get("enabled") is False:
        return
    path = config_key(document)
    where = ".".join(path)
    parent = document
    for key in path[:-1]:
        child = parent.get(key)
        if child is None:
            child = CommentedMap()
            parent[key] = child
        if not isinstance(child, dict):
            raise MergeIntoError(f"{key} in the file is a {type(child).__name__}, expected a mapping")
        parent = child
    theirs = parent.get(path[-1])
    if theirs is not None and not isinstance(theirs, str):
        raise MergeIntoError(f"{where} is a {type(theirs).__name__}, expected the server config as a string")
    merged = merged_config(plan, theirs, where, changes, warnings)
    if merged != theirs:
        parent[path[-1]] = LiteralScalarString(merged)


def _merge_map(target: Any, ours: dict[str, Any], where: str, changes: list[str]) -> None:
    from ruamel.yaml.comments import CommentedMap

    for key, value in ours.items():
        path = f"{where}{key}"
        if isinstance(value, dict):
            child = target.get(key)
            if child is None:
                target[key] = child = CommentedMap()
            if not isinstance(child, dict):
                raise MergeIntoError(f"{path} in the file is a {type(child).__name__}, expected a mapping")
            _merge_map(child, value, f"{path}.", changes)
        elif key not in target:
            target[key] = value
            changes.append(f"added {path}")
        elif target[key] != value:
            changes.append(f"changed {path} from {target[key]!r} to {value!r}")
            target[key] = value
