"""The HTML report's fleet section (`verify fleet` only): the trust matrix as a table, cluster by cluster, and each
cluster's effective expiry on the timeline drawing the certificates use.

The matrix reads as "a workload in ROW accepts a peer of COLUMN": a rejected cell carries its reason as a tooltip
and in the cell, so a printed page keeps it. Everything comes from `Facts.trust_cells` and `Facts.fleet_expiry`
(verify/runs/fleet.py), which the Prometheus output exports too: the page and the metrics never disagree.
"""

from __future__ import annotations

from ..facts import CertificateFact
from ..result import Report
from .html_svg import date_text, esc, timeline_svg


def fleet_section(report: Report) -> str:
    """The section, or "" for a report that is not a fleet's (every other page stays as it was)."""
    facts = report.facts
    if not facts.trust_cells and not facts.fleet_expiry:
        return ""
    return '<section id="fleet">\n<h2>Fleet</h2>\n' + _matrix(report) + "\n" + _expiry(report) + "\n</section>"


def _matrix(report: Report) -> str:
    cells = report.facts.trust_cells
    names = list(dict.fromkeys([cell.source for cell in cells] + [cell.peer for cell in cells]))
    by = {(cell.source, cell.peer): cell for cell in cells}
    head = "".join(f'<th class="mono">{esc(name)}</th>' for name in names)
    rows = []
    for source in names:
        row = []
        for peer in names:
            cell = by.get((source, peer))
            if cell is None:
                row.append("<td></td>")
            elif cell.accepts:
                row.append('<td class="trust-yes" title="accepts">accepts</td>')
            else:
                reason = esc(cell.reason)
                row.append(f'<td class="trust-no" title="{reason}">rejects<br/><small>{reason}</small></td>')
        rows.append(f'<tr><th class="mono">{esc(source)}</th>{"".join(row)}</tr>')
    return (
        '<h3>Trust matrix</h3>\n<p class="meta">Does a workload in the row\'s cluster accept a peer of the '
        "column's cluster (its chain ends at a root the row trusts, its trust domain is the row's or an "
        "alias)?</p>\n"
        f'<table class="trust-matrix"><thead><tr><th>workload in \\ peer of</th>{head}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table>"
    )


def _expiry(report: Report) -> str:
    facts = report.facts
    bars = [
        CertificateFact(
            role="effective expiry",
            source="vault",
            target=fact.cluster,
            cluster=fact.cluster,
            position=0,
            subject=fact.bound,
            not_after=fact.effective,
            not_before=facts.started or 0.0,
        )
        for fact in facts.fleet_expiry
    ]
    drawing = timeline_svg(bars, facts.started, facts.warn_days)
    rows = "".join(
        f'<tr><td class="mono">{esc(fact.cluster)}</td><td>{date_text(fact.effective)}</td>'
        f"<td>{esc(fact.bound)}</td><td>{date_text(fact.ends)}</td></tr>"
        for fact in sorted(facts.fleet_expiry, key=lambda fact: (fact.effective, fact.cluster))
    )
    return (
        '<h3>Effective expiry</h3>\n<p class="meta">When each cluster stops issuing a full workload certificate: '
        "the earliest bound minus the workload certificate TTL, soonest first.</p>\n"
        + (f'<div class="figure">{drawing}</div>\n' if drawing else "")
        + '<table class="fleet-expiry"><thead><tr><th>cluster</th><th>effective expiry</th><th>earliest bound</th>'
        f"<th>bound ends</th></tr></thead><tbody>{rows}</tbody></table>"
    )
