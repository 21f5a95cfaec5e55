"""Policy HCL compared as tokens, and drift described as paths added, removed or changed.

Vault stores a policy as written; comments, whitespace and trailing commas must not count as drift.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping

from ....generator.config.model import Config
from ....generator.config.plan import plan

_HCL_TOKEN = re.compile(r'"(?:\\.|[^"\\])*"|#[^\n]*|//[^\n]*|/\*.*?\*/|[{}\[\]=,]|[^\s{}\[\]=,"#]+', re.DOTALL)


def normalise_hcl(text: str) -> str:
    """HCL without comments, with single spaces between tokens and no trailing commas."""
    tokens = [t for t in _HCL_TOKEN.findall(text) if not t.startswith(("#", "//", "/*"))]
    kept = [t for i, t in enumerate(tokens) if not (t == "," and i + 1 < len(tokens) and tokens[i + 1] in "]}")]
    return " ".join(kept)


def policy_rules(text: str) -> dict[str, list[str]]:
    """path -> capabilities, from normalised HCL."""
    pattern = re.compile(r'path "([^"]+)" \{ capabilities = \[ ([^\]]*)\] \}')
    return {
        path: sorted(c.strip().strip('"') for c in caps.split(",") if c.strip())
        for path, caps in pattern.findall(normalise_hcl(text))
    }


Grants = dict[str, frozenset[str]]

# The old `policy = "..."` shorthand, as Vault expands it.
_SHORTHAND = {
    "deny": frozenset({"deny"}),
    "read": frozenset({"read", "list"}),
    "write": frozenset({"create", "read", "update", "delete", "list"}),
    "sudo": frozenset({"create", "read", "update", "delete", "list", "sudo"}),
}

# What Vault and OpenBao put in the `default` policy, which every token gets unless its role sets
# token_no_default_policy: a token's own lookup, renewal and cubbyhole, response wrapping, hashing.
STOCK_DEFAULT: Grants = {
    "auth/token/lookup-self": frozenset({"read"}),
    "auth/token/renew-self": frozenset({"update"}),
    "auth/token/revoke-self": frozenset({"update"}),
    "sys/capabilities-self": frozenset({"update"}),
    "identity/entity/id/{{identity.entity.id}}": frozenset({"read"}),
    "identity/entity/name/{{identity.entity.name}}": frozenset({"read"}),
    "sys/internal/ui/resultant-acl": frozenset({"read"}),
    "sys/renew": frozenset({"update"}),
    "sys/leases/renew": frozenset({"update"}),
    "sys/leases/lookup": frozenset({"update"}),
    "cubbyhole/*": frozenset({"create", "read", "update", "delete", "list"}),
    "sys/wrapping/wrap": frozenset({"update"}),
    "sys/wrapping/lookup": frozenset({"update"}),
    "sys/wrapping/unwrap": frozenset({"update"}),
    "sys/tools/hash": frozenset({"update"}),
    "sys/tools/hash/*": frozenset({"update"}),
    "sys/control-group/request": frozenset({"update"}),
    "sys/mfa/challenge": frozenset({"update"}),
    "identity/oidc/provider/+/authorize": frozenset({"read", "update"}),
}


def policy_grants(text: str) -> Grants | None:
    """path -> every capability the policy gives on it (HCL or JSON, stanzas of one path merged as Vault merges
    them); None when the text has anything we cannot read, so a caller never mistakes it for granting nothing."""
    stripped = text.strip()
    if stripped.startswith("{"):
        try:
            document = json.loads(stripped)
        except ValueError:
            return None
        return _json_grants(document)
    return _hcl_grants([t for t in _HCL_TOKEN.findall(text) if not t.startswith(("#", "//", "/*"))])


def _json_grants(document: object) -> Grants | None:
    paths = document.get("path") if isinstance(document, dict) and set(document) == {"path"} else None
    if not isinstance(paths, dict):
        return None
    grants: dict[str, set[str]] = {}
    for path, body in paths.items():
        found = _capabilities(body)
        if found is None:
            return None
        grants.setdefault(path, set()).update(found)
    return {path: frozenset(caps) for path, caps in grants.items()}


def _capabilities(body: object) -> set[str] | None:
    if not isinstance(body, Mapping):
        return None
    found: set[str] = set()
    caps, shorthand = body.get("capabilities"), body.get("policy")
    if caps is not None:
        if not isinstance(caps, list) or not all(isinstance(c, str) for c in caps):
            return None
        found.update(c.strip().lower() for c in caps)
    if shorthand is not None:
        if shorthand not in _SHORTHAND:
            return None
        found.update(_SHORTHAND[shorthand])
    return found


def _hcl_grants(tokens: list[str]) -> Grants | None:
    """`path "X" { capabilities = [...] ... }` stanzas; other keys in a stanza (parameters, wrapping TTLs) only
    narrow what a path allows, so they are skipped."""
    grants: dict[str, set[str]] = {}
    i = 0
    while i < len(tokens):
        if tokens[i] != "path" or i + 2 >= len(tokens) or not tokens[i + 1].startswith('"') or tokens[i + 2] != "{":
            return None
        path = json.loads(tokens[i + 1]) if _is_string(tokens[i + 1]) else None
        if not isinstance(path, str):
            return None
        i, body = _block(tokens, i + 2)
        if body is None:
            return None
        found = _capabilities(body)
        if found is None:
            return None
        grants.setdefault(path, set()).update(found)
    return {path: frozenset(caps) for path, caps in grants.items()}


def _is_string(token: str) -> bool:
    return len(token) >= 2 and token.startswith('"') and token.endswith('"')


def _block(tokens: list[str], start: int) -> tuple[int, dict[str, object] | None]:
    """The stanza opened at tokens[start] == "{": its top-level `capabilities` and `policy`, and the index after
    its closing brace."""
    body: dict[str, object] = {}
    capabilities: list[str] = []
    depth, i = 0, start
    while i < len(tokens):
        token = tokens[i]
        if token == "{":
            depth += 1
        elif token == "}":
            depth -= 1
            if depth == 0:
                if capabilities:
                    body["capabilities"] = capabilities
                return i + 1, body
        elif depth == 1 and token in ("capabilities", "policy") and i + 2 < len(tokens) and tokens[i + 1] == "=":
            if token == "policy":
                if not _is_string(tokens[i + 2]):
                    return i, None
                body["policy"] = json.loads(tokens[i + 2])
                i += 3
                continue
            if tokens[i + 2] != "[":
                return i, None
            i += 3
            while i < len(tokens) and tokens[i] != "]":
                if _is_string(tokens[i]):
                    capabilities.append(json.loads(tokens[i]))
                elif tokens[i] != ",":
                    return i, None
                i += 1
        i += 1
    return i, None


def beyond(grants: Grants, allowed: Mapping[str, frozenset[str]]) -> Grants:
    """What `grants` gives that `allowed` does not, path by exact path (`deny` only takes away)."""
    extra = {path: caps - {"deny"} - allowed.get(path, frozenset()) for path, caps in grants.items()}
    return {path: caps for path, caps in sorted(extra.items()) if caps}


def describe_grants(grants: Grants, limit: int = 3) -> str:
    parts = [f"{', '.join(sorted(caps))} on {path!r}" for path, caps in list(grants.items())[:limit]]
    more = len(grants) - limit
    return "; ".join(parts) + (f" and {more} more path(s)" if more > 0 else "")


def describe_policy_drift(found: str, rendered: str) -> str:
    """Which paths were added, removed or changed: a finding people can act on, not a raw diff."""
    have, want = policy_rules(found), policy_rules(rendered)
    parts = [f"missing path {p!r}" for p in sorted(want.keys() - have.keys())]
    parts += [f"extra path {p!r}" for p in sorted(have.keys() - want.keys())]
    parts += [
        f"{p!r} has {have[p]} instead of {want[p]}" for p in sorted(want.keys() & have.keys()) if have[p] != want[p]
    ]
    return "; ".join(parts) or "other stanzas differ"


def rendered_policies(config: Config) -> dict[str, str]:
    """policy.hcl per cluster as `render` writes it (flat for one cluster, clusters/<name>/ for several)."""
    from ....generator.render.tree import render_tree

    tree = render_tree(config)
    found = {name.split("/")[1]: f.content.decode() for name, f in tree.items() if name.endswith("/policy.hcl")}
    if "policy.hcl" in tree:
        found[plan(config)[0].name] = tree["policy.hcl"].content.decode()
    return found
