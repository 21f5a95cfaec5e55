"""The HTML report's drawings, as inline SVG: each target's chain (root -> intermediate(s) -> test leaf) and one
expiry timeline of every certificate the run saw.

Inline SVG, not an image or a charting library: the page must open offline from a CI artifact, with no script and
no request, and its text must stay text (searchable, redacted like every other output). Drawn from the run's
`CertificateFact`s only (subject and issuer CN, serial, validity, public key type): never from certificate or key
bytes. Every number is written with fixed decimals so the same report draws the same bytes.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from html import escape
from typing import NamedTuple

from ..facts import CertificateFact
from ..result import CheckResult, Status, redact

DAY = 86400.0
# The check whose verdict the diagram's last node shows: it issues a workload-shaped leaf from ca-cert.pem's key
# and verifies it against the roots (verify/checks/chain/peers.py).
LEAF_CHECK = "chain.spiffe-leaf"
LEAF_KEY = "EC P-256"  # the test leaf's key (peers.make_leaf)

_LEAF_VERDICT = {
    Status.PASS: "issued and verified",
    Status.WARN: "verified, with a warning",
    Status.FAIL: "rejected by peers",
    Status.ERROR: "could not be checked",
    Status.SKIP: "not issued (see the check)",
}
NODE_W, NODE_H, NODE_GAP, PAD = 232, 92, 56, 12
ROW_H, LABEL_W, PLOT_W, AXIS_H = 24, 360, 620, 40


def esc(text: str) -> str:
    """Redacted, then escaped for HTML text and attribute values alike (quotes included)."""
    return escape(redact(text), quote=True)


def date_text(timestamp: float) -> str:
    return dt.datetime.fromtimestamp(timestamp, dt.timezone.utc).strftime("%Y-%m-%d")


def short(text: str, limit: int = 34) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


class Chain(NamedTuple):
    """One target's certificates in drawing order: the roots, then the intermediates from the top down."""

    target: str
    roots: tuple[CertificateFact, ...]
    intermediates: tuple[CertificateFact, ...]
    leaf: CheckResult | None


def unique(facts: Iterable[CertificateFact]) -> list[CertificateFact]:
    """The facts without repeats (the same certificate read twice for one target and role), in order."""
    seen: set[tuple[str, str, str, str, float]] = set()
    kept: list[CertificateFact] = []
    for fact in facts:
        key = (fact.target, fact.role, fact.serial, fact.subject, fact.not_after)
        if key not in seen:
            seen.add(key)
            kept.append(fact)
    return kept


def certificates(facts: Iterable[CertificateFact]) -> list[CertificateFact]:
    """Each certificate of each target once: one read from two files (the root in root-cert.pem and at the end of
    cert-chain.pem) is one certificate, its roles joined ("root, chain")."""
    merged: dict[tuple[str, str, str, float], CertificateFact] = {}
    for fact in unique(facts):
        key = (fact.target, fact.subject, fact.serial, fact.not_after)
        seen = merged.get(key)
        merged[key] = fact if seen is None else seen._replace(role=f"{seen.role}, {fact.role}")
    return list(merged.values())


def _same(a: CertificateFact, b: CertificateFact) -> bool:
    return (a.subject, a.serial, a.not_after) == (b.subject, b.serial, b.not_after)


def chains(facts: Iterable[CertificateFact], checks: Iterable[CheckResult]) -> list[Chain]:
    """Each target's chain: roots from root-cert.pem (ca.crt), intermediates from ca-cert.pem and cert-chain.pem
    (which lists the CA first, then its issuers: reversed to draw from the root down), the roots left out."""
    by_target: dict[str, list[CertificateFact]] = {}
    for fact in unique(facts):
        by_target.setdefault(fact.target, []).append(fact)
    leaves = {check.target: check for check in checks if check.id == LEAF_CHECK}
    drawn: list[Chain] = []
    for target, own in by_target.items():
        roots = [fact for fact in own if fact.role == "root"]
        downward: list[CertificateFact] = [fact for fact in own if fact.role == "intermediate"][:1]
        for fact in sorted((f for f in own if f.role == "chain"), key=lambda f: f.position):
            if any(_same(fact, other) for other in (*roots, *downward)):
                continue
            # A self-issued certificate at the top of cert-chain.pem is a root even when root-cert.pem lacks it.
            (roots if fact.subject == fact.issuer and fact.position > 0 else downward).append(fact)
        drawn.append(Chain(target, tuple(roots), tuple(reversed(downward)), leaves.get(target)))
    return drawn


def _node(x: float, y: float, title: str, lines: list[str], css: str, tooltip: str) -> str:
    texts = [f'<text class="node-title" x="{x + PAD:.1f}" y="{y + 20:.1f}">{esc(title)}</text>']
    texts += [
        f'<text class="node-line" x="{x + PAD:.1f}" y="{y + 40 + 16 * index:.1f}">{esc(line)}</text>'
        for index, line in enumerate(lines)
    ]
    return (
        f'<g class="node {css}"><title>{esc(tooltip)}</title>'
        f'<rect x="{x:.1f}" y="{y:.1f}" width="{NODE_W}" height="{NODE_H}" rx="8" ry="8"/>' + "".join(texts) + "</g>"
    )


def _cert_node(x: float, y: float, role: str, fact: CertificateFact) -> str:
    valid = f"{date_text(fact.not_before)} → {date_text(fact.not_after)}" if fact.not_before else ""
    serial = f"serial {short(fact.serial, 12)}" if fact.serial else ""
    lines = [short(fact.subject), " · ".join(part for part in (fact.key_type, serial) if part)]
    lines.append(valid or f"until {date_text(fact.not_after)}")
    tooltip = f"{role}: {fact.subject} (issuer {fact.issuer}, serial {fact.serial}, {fact.source})"
    return _node(x, y, role, lines, "cert-root" if role.startswith("root") else "cert-intermediate", tooltip)


def _arrow(x1: float, y1: float, x2: float, y2: float) -> str:
    """A line with its own head (a <marker> would need a document-wide id)."""
    head = f"{x2:.1f},{y2:.1f} {x2 - 9:.1f},{y2 - 5:.1f} {x2 - 9:.1f},{y2 + 5:.1f}"
    return (
        f'<g class="edge"><line x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2 - 8:.1f}" y2="{y2:.1f}"/>'
        f'<polygon points="{head}"/></g>'
    )


def chain_svg(chain: Chain) -> str:
    """root(s) | intermediate(s) | test leaf, left to right; several roots (a trust bundle) stack in the first
    column and the arrow leaves the one that issued the top intermediate."""
    columns = (1 if chain.roots else 0) + len(chain.intermediates) + (1 if chain.leaf is not None else 0)
    rows = max(1, len(chain.roots))
    width = PAD * 2 + columns * NODE_W + max(columns - 1, 0) * NODE_GAP
    height = PAD * 2 + rows * NODE_H + (rows - 1) * PAD
    parts: list[str] = []
    x = float(PAD)
    middle = PAD + (height - 2 * PAD) / 2 - NODE_H / 2
    previous: tuple[float, float] | None = None
    if chain.roots:
        top = chain.intermediates[0] if chain.intermediates else None
        issuing = next((i for i, r in enumerate(chain.roots) if top is not None and r.subject == top.issuer), 0)
        for index, root in enumerate(chain.roots):
            y = PAD + index * (NODE_H + PAD)
            label = "root" if len(chain.roots) == 1 else f"root {index + 1} of {len(chain.roots)}"
            if root.role == "chain":
                label += " (in cert-chain.pem only)"
            parts.append(_cert_node(x, y, label, root))
            if index == issuing:
                previous = (x + NODE_W, y + NODE_H / 2)
        x += NODE_W + NODE_GAP
    for index, fact in enumerate(chain.intermediates):
        if previous is not None:
            parts.append(_arrow(previous[0], previous[1], x, middle + NODE_H / 2))
        role = "intermediate" if len(chain.intermediates) == 1 else f"intermediate {index + 1}"
        parts.append(_cert_node(x, middle, role, fact))
        previous = (x + NODE_W, middle + NODE_H / 2)
        x += NODE_W + NODE_GAP
    if chain.leaf is not None:
        if previous is not None:
            parts.append(_arrow(previous[0], previous[1], x, middle + NODE_H / 2))
        verdict = _LEAF_VERDICT[chain.leaf.status]
        lines = ["workload-shaped, SPIFFE URI SAN", f"{LEAF_KEY} · made by the check", verdict]
        css = f"cert-leaf status-{chain.leaf.status.value}"
        parts.append(_node(x, middle, "test leaf", lines, css, f"{LEAF_CHECK}: {chain.leaf.finding}"))
    label = f"Chain of {chain.target}"
    return (
        f'<svg class="chain" role="img" aria-label="{esc(label)}" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}">' + "".join(parts) + "</svg>"
    )


def _row_status(fact: CertificateFact, now: float | None, warn_days: int | None) -> str:
    if now is None:
        return "unknown"
    if fact.not_after <= now:
        return "expired"
    if warn_days is not None and fact.not_after <= now + warn_days * DAY:
        return "due"
    return "ok"


def _ticks(start: float, end: float, count: int = 6) -> list[float]:
    step = (end - start) / (count - 1)
    return [start + step * index for index in range(count)]


def timeline_svg(facts: Iterable[CertificateFact], now: float | None, warn_days: int | None) -> str:
    """Every certificate as a bar from not-before to not-after on one time axis (a fleet's clusters share it),
    today (the run's start) as a line and the warning window after it as a band; "" when there is none."""
    rows = certificates(facts)
    if not rows:
        return ""
    rows.sort(key=lambda f: (f.cluster or f.target, f.target, -f.not_after, f.role))
    edges = [f.not_after for f in rows] + [f.not_before for f in rows if f.not_before]
    if now is not None:
        edges += [now, now + (warn_days or 0) * DAY]
    start, end = min(edges), max(edges)
    span = max(end - start, DAY)
    start, end = start - span * 0.02, end + span * 0.02

    def x_of(timestamp: float) -> float:
        return LABEL_W + (timestamp - start) / (end - start) * PLOT_W

    height = AXIS_H + len(rows) * ROW_H + 8
    width = LABEL_W + PLOT_W + 90  # room for the last bar's date
    parts: list[str] = []
    if now is not None and warn_days:
        band = x_of(now + warn_days * DAY) - x_of(now)
        parts.append(
            f'<rect class="warn-window" x="{x_of(now):.1f}" y="{AXIS_H - 6}" width="{band:.1f}" '
            f'height="{height - AXIS_H + 6:.1f}"><title>warning window: {warn_days} days</title></rect>'
        )
    for tick in _ticks(start, end):
        parts.append(
            f'<g class="tick"><line x1="{x_of(tick):.1f}" y1="{AXIS_H - 6}" x2="{x_of(tick):.1f}" y2="{height:.1f}"/>'
            f'<text x="{x_of(tick):.1f}" y="{AXIS_H - 12}">{date_text(tick)}</text></g>'
        )
    for index, fact in enumerate(rows):
        y = AXIS_H + index * ROW_H
        state = _row_status(fact, now, warn_days)
        first = x_of(fact.not_before) if fact.not_before else x_of(fact.not_after) - 3
        label = short(f"{fact.cluster or fact.target} · {fact.role} · {fact.subject}", 52)
        tooltip = f"{fact.target}: {fact.role} {fact.subject} until {date_text(fact.not_after)} ({state})"
        parts.append(
            f'<g class="row expiry-{state}" data-target="{esc(fact.target)}" data-role="{esc(fact.role)}" '
            f'data-not-after="{date_text(fact.not_after)}"><title>{esc(tooltip)}</title>'
            f'<text class="row-label" x="{LABEL_W - 8}" y="{y + 16}">{esc(label)}</text>'
            f'<rect x="{first:.1f}" y="{y + 5}" width="{max(x_of(fact.not_after) - first, 3):.1f}" height="14" '
            f'rx="3" ry="3"/>'
            f'<text class="row-date" x="{x_of(fact.not_after) + 4:.1f}" y="{y + 16}">'
            f"{date_text(fact.not_after)}</text></g>"
        )
    if now is not None:
        parts.append(
            f'<g class="today"><line x1="{x_of(now):.1f}" y1="{AXIS_H - 6}" x2="{x_of(now):.1f}" y2="{height:.1f}"/>'
            f'<text x="{x_of(now) + 4:.1f}" y="{AXIS_H - 26}">today {date_text(now)}</text></g>'
        )
    return (
        f'<svg class="timeline" role="img" aria-label="Expiry timeline of {len(rows)} certificates" '
        f'viewBox="0 0 {width} {height:.1f}" width="{width}" height="{height:.1f}">' + "".join(parts) + "</svg>"
    )
