"""One self-contained HTML page for a PR artifact or a CI page: the summary, the findings with their hints, the
expiry timeline of every certificate, each target's chain drawn (root -> intermediate(s) -> test leaf) and what was
checked where.

Self-contained because it is opened from an artifact store or a file: the style sheet and the drawings are inline
(html_style.py, html_svg.py), there is no script and no URL to fetch, so it reads the same offline and a browser
has nothing to fail loading (its Content-Security-Policy forbids any load but the inline style). Every string
passes through `redact` (common.clean for results, html_svg.esc for the rest) and then HTML escaping: no key
material and no markup from a hostile name reach the page. The page holds no clock of its own: the only times
shown are the run's (`Facts.started`, "today" on the timeline) and the certificates', so the same report renders
the same bytes.
"""

from __future__ import annotations

from html import escape

from ..result import CheckResult, Report, Status
from .common import SUMMARY_KEYS, clean, summary_counts, summary_line
from .html_fleet import fleet_section
from .html_style import CSS
from .html_svg import certificates, chain_svg, chains, date_text, esc, timeline_svg

TITLE = "istio-vault-ca report"
# The browser enforces what the page promises: nothing loads (no script, image, font or frame), only the inline
# style sheet applies; a browser reports any attempt on its console, which the browser test watches.
CSP = "default-src 'none'; style-src 'unsafe-inline'"
_WORDS = {"pass": "passed", "warn": "warned", "fail": "failed", "error": "errored", "skip": "skipped"}
_ATTENTION = (Status.FAIL, Status.ERROR, Status.WARN)


def render(report: Report, *, collapse_passing_targets: bool = False, tty: bool = False) -> str:
    """The whole page. Every check is listed (a target whose checks all passed is folded, not dropped), so
    `collapse_passing_targets` changes nothing here; `tty` neither (no colour codes in a document)."""
    del collapse_passing_targets, tty
    verdict = "OK" if report.ok else "FAILED"
    body = [
        _summary(report),
        _findings(report.checks),
        fleet_section(report),  # verify fleet only: the trust matrix and each cluster's effective expiry
        _timeline(report),  # before the chains: one figure for a whole fleet, where the diagrams are one each
        _chains(report),
        _targets(report),
        "<footer>Written by istio-vault-ca from this run's results. The page is self-contained: no script, "
        "no external resource; private keys are never part of it.</footer>",
    ]
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8"/>\n'
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}"/>\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1"/>\n'
        f"<title>{TITLE}: {verdict}</title>\n<style>{CSS}</style>\n</head>\n<body>\n"
        + "\n".join(part for part in body if part)
        + "\n</body>\n</html>\n"
    )


def _summary(report: Report) -> str:
    facts = report.facts
    meta: list[str] = []
    if facts.started is not None:
        meta.append(f"run started {esc(date_text(facts.started))} UTC")
    if facts.warn_days is not None:
        meta.append(f"warning window {facts.warn_days} days")
    if facts.clusters:
        meta.append("clusters " + ", ".join(f"<code>{esc(name)}</code>" for name in facts.clusters))
    if facts.config is not None:
        meta.append(f"config <code>{esc(facts.config)}</code>")
    for service, reached in sorted(facts.reachable.items()):
        meta.append(f"{esc(service)} {'reached' if reached else 'not reached'}")
    counts = summary_counts(report)
    items = "".join(
        f'<li class="{key}" data-count="{counts[key]}"><span class="n">{counts[key]}</span>{_WORDS[key]}</li>'
        for key in SUMMARY_KEYS
    )
    verdict = "ok" if report.ok else "failed"
    return (
        f'<header id="summary">\n<h1>{TITLE}</h1>\n'
        + (f'<p class="meta">{" · ".join(meta)}</p>\n' if meta else "")
        + f'<p><span class="verdict {verdict}">{verdict.upper()}</span> <span class="summary-line">'
        f"{escape(summary_line(report))}</span></p>\n"
        f'<ul class="counts" data-total="{len(report.checks)}">{items}</ul>\n</header>'
    )


def _rows(checks: list[CheckResult], *, with_target: bool) -> str:
    rows: list[str] = []
    for check in checks:
        fields = {name: escape(value, quote=True) for name, value in clean(check).items()}
        hint = f'<div class="hint">{fields["hint"]}</div>' if fields["hint"] else ""
        target = f'<td class="target mono">{fields["target"]}</td>' if with_target else ""
        rows.append(
            f'<tr class="check status-{fields["status"]}" data-check="{fields["id"]}">'
            f'<td class="status">{fields["status"]}</td><td class="id mono">{fields["id"]}</td>{target}'
            f'<td class="finding">{fields["finding"]}{hint}</td></tr>'
        )
    target_head = "<th>target</th>" if with_target else ""
    return (
        f"<table><thead><tr><th>status</th><th>check</th>{target_head}<th>finding and hint</th></tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table>"
    )


def _findings(checks: list[CheckResult]) -> str:
    """What needs a person, worst first: failures and errors, then warnings, each with its hint."""
    worst = sorted((c for c in checks if c.status in _ATTENTION), key=lambda c: _ATTENTION.index(c.status))
    content = _rows(worst, with_target=True) if worst else '<p class="none">No failure, error or warning.</p>'
    return f'<section id="findings">\n<h2>Findings</h2>\n{content}\n</section>'


def _chains(report: Report) -> str:
    drawn = chains(report.facts.certificates, report.checks)
    if not drawn:
        content = '<p class="none">This run read no certificate to draw.</p>'
    else:
        content = "\n".join(
            f'<div class="chain-of" data-target="{esc(chain.target)}"><h3>{esc(chain.target)}</h3>'
            f'<div class="figure">{chain_svg(chain)}</div></div>'
            for chain in drawn
        )
    return f'<section id="chains">\n<h2>Chains</h2>\n{content}\n</section>'


def _timeline(report: Report) -> str:
    facts = report.facts
    drawing = timeline_svg(facts.certificates, facts.started, facts.warn_days)
    if not drawing:
        return '<section id="timeline">\n<h2>Expiry timeline</h2>\n<p class="none">No certificate seen.</p>\n</section>'
    legend = "today is the run's start" if facts.started is not None else "the run recorded no start time"
    if facts.started is not None and facts.warn_days:
        legend += f"; the shaded band is the {facts.warn_days}-day warning window"
    rows = "".join(
        f'<tr><td class="mono">{esc(fact.target)}</td><td>{esc(fact.role)}</td><td>{esc(fact.subject)}</td>'
        f"<td>{esc(fact.key_type)}</td><td>{date_text(fact.not_before) if fact.not_before else ''}</td>"
        f"<td>{date_text(fact.not_after)}</td></tr>"
        for fact in certificates(facts.certificates)
    )
    table = (
        "<details><summary>The certificates as a table</summary><table><thead><tr><th>target</th><th>role</th>"
        "<th>subject</th><th>key</th><th>not before</th><th>not after</th></tr></thead>"
        f"<tbody>{rows}</tbody></table></details>"
    )
    return (
        f'<section id="timeline">\n<h2>Expiry timeline</h2>\n<p class="meta">{legend}.</p>\n'
        f'<div class="figure">{drawing}</div>\n{table}\n</section>'
    )


def _targets(report: Report) -> str:
    """Every check under the target it looked at; a target with nothing to report is folded."""
    by_target: dict[str, list[CheckResult]] = {}
    for check in report.checks:
        by_target.setdefault(check.target, []).append(check)
    istiod = {fact.target: fact.source for fact in report.facts.istiod_ca}
    blocks: list[str] = []
    for target, own in by_target.items():
        tally: dict[str, int] = {}
        for check in own:
            tally[check.status.value] = tally.get(check.status.value, 0) + 1
        words = ", ".join(f"{tally[key]} {_WORDS[key]}" for key in SUMMARY_KEYS if key in tally)
        opened = ' open="open"' if len(by_target) == 1 or any(c.status is not Status.PASS for c in own) else ""
        loaded = f" · istiod loaded: {esc(istiod[target])}" if target in istiod else ""
        blocks.append(
            f'<details class="target"{opened} data-target="{esc(target)}"><summary><code>{esc(target)}</code>'
            f'<span class="tally">{len(own)} check{"s" if len(own) != 1 else ""}: {words}{loaded}</span></summary>'
            f"{_rows(own, with_target=False)}</details>"
        )
    content = "\n".join(blocks) or '<p class="none">No check ran.</p>'
    return f'<section id="targets">\n<h2>What was checked where</h2>\n{content}\n</section>'
