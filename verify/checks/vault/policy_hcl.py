"""Policy HCL compared as tokens, and drift described as paths added, removed or changed.

Vault stores a policy as written; comments, whitespace and trailing commas must not count as drift.
"""

from __future__ import annotations

import re

from istio_vault_ca.generator.config.model import Config
from istio_vault_ca.generator.config.plan import plan

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
    from istio_vault_ca.generator.render.tree import render_tree

    tree = render_tree(config)
    found = {name.split("/")[1]: f.content.decode() for name, f in tree.items() if name.endswith("/policy.hcl")}
    if "policy.hcl" in tree:
        found[plan(config)[0].name] = tree["policy.hcl"].content.decode()
    return found
