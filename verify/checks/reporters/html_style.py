"""The HTML report's style sheet, inlined into every page (a CI artifact opens offline: no CDN, no web font).

System fonts only; the status colours are the text reporter's (green pass, amber warn, red fail, magenta error,
grey skip) so a person switching between the two reads them the same way. Print keeps the colours.
"""

CSS = """
:root { --pass: #1a7f37; --warn: #9a6700; --fail: #cf222e; --error: #8250df; --skip: #6e7781;
  --ink: #1f2328; --muted: #59636e; --line: #d1d9e0; --panel: #f6f8fa; }
* { box-sizing: border-box; }
body { margin: 0; padding: 24px 32px; color: var(--ink); background: #fff;
  font: 14px/1.45 system-ui, -apple-system, "Segoe UI", "DejaVu Sans", sans-serif;
  -webkit-print-color-adjust: exact; print-color-adjust: exact; }
h1 { font-size: 22px; margin: 0 0 4px; }
h2 { font-size: 17px; margin: 28px 0 10px; border-bottom: 1px solid var(--line); padding-bottom: 4px; }
h3 { font-size: 14px; margin: 16px 0 6px; font-family: ui-monospace, "DejaVu Sans Mono", monospace; }
p.meta { color: var(--muted); margin: 0 0 12px; }
code, .mono { font-family: ui-monospace, "DejaVu Sans Mono", monospace; font-size: 13px; }
.verdict { display: inline-block; font-weight: 700; padding: 2px 10px; border-radius: 12px; color: #fff; }
.verdict.ok { background: var(--pass); } .verdict.failed { background: var(--fail); }
.counts { display: flex; gap: 12px; flex-wrap: wrap; margin: 12px 0; padding: 0; list-style: none; }
.counts li { min-width: 96px; padding: 8px 14px; border: 1px solid var(--line); border-radius: 8px;
  background: var(--panel); }
.counts .n { display: block; font-size: 22px; font-weight: 700; }
.counts .pass .n { color: var(--pass); } .counts .warn .n { color: var(--warn); }
.counts .fail .n { color: var(--fail); } .counts .error .n { color: var(--error); }
.counts .skip .n { color: var(--skip); }
table { border-collapse: collapse; width: 100%; margin: 6px 0 12px; }
th, td { text-align: left; vertical-align: top; padding: 5px 8px; border-bottom: 1px solid var(--line); }
th { background: var(--panel); font-weight: 600; }
td.status { font-weight: 700; text-transform: uppercase; white-space: nowrap; }
tr.status-pass td.status { color: var(--pass); } tr.status-warn td.status { color: var(--warn); }
tr.status-fail td.status { color: var(--fail); } tr.status-error td.status { color: var(--error); }
tr.status-skip td.status { color: var(--skip); }
.hint { color: var(--muted); } .hint::before { content: "→ "; }
details.target { border: 1px solid var(--line); border-radius: 8px; padding: 4px 12px; margin: 8px 0; }
details.target > summary { cursor: pointer; padding: 4px 0; }
.tally { color: var(--muted); margin-left: 8px; }
.none { color: var(--muted); font-style: italic; }
.figure { overflow-x: auto; border: 1px solid var(--line); border-radius: 8px; padding: 8px; background: #fff; }
svg text { font-family: system-ui, "DejaVu Sans", sans-serif; font-size: 12px; fill: var(--ink); }
svg .node rect { stroke-width: 1.5; }
svg .cert-root rect { fill: #ddf4ff; stroke: #0969da; }
svg .cert-intermediate rect, svg .cert-chain rect { fill: #fbefff; stroke: #8250df; }
svg .cert-leaf rect { fill: #dafbe1; stroke: var(--pass); }
svg .cert-leaf.status-fail rect, svg .cert-leaf.status-error rect { fill: #ffebe9; stroke: var(--fail); }
svg .cert-leaf.status-skip rect, svg .cert-leaf.status-warn rect { fill: var(--panel); stroke: var(--skip); }
svg .node-title { font-weight: 700; } svg .node-line { fill: var(--muted); }
svg .edge line { stroke: var(--muted); stroke-width: 2; } svg .edge polygon { fill: var(--muted); }
svg .tick line { stroke: var(--line); } svg .tick text { fill: var(--muted); text-anchor: middle; }
svg .warn-window { fill: #fff8c5; }
svg .today line { stroke: var(--fail); stroke-width: 2; stroke-dasharray: 4 3; }
svg .today text { fill: var(--fail); font-weight: 700; }
svg .row-label { text-anchor: end; } svg .row-date { fill: var(--muted); font-size: 11px; }
svg .expiry-ok rect { fill: var(--pass); } svg .expiry-due rect { fill: #d4a72c; }
svg .expiry-expired rect { fill: var(--fail); } svg .expiry-unknown rect { fill: var(--skip); }
table.trust-matrix td, table.trust-matrix thead th + th { text-align: center; }
table.trust-matrix small { color: var(--muted); }
td.trust-yes { color: var(--pass); font-weight: 700; } td.trust-no { color: var(--fail); font-weight: 700; }
footer { margin-top: 32px; color: var(--muted); font-size: 12px; }
"""
