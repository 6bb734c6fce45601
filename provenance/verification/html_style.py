"""The HTML report's page style and content security policy: one self-contained file, no script, no
request."""

from __future__ import annotations

CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"


STYLE = """
:root { color-scheme: light; --fg: #1f2328; --muted: #59636e; --line: #d1d9e0; --bg-alt: #f6f8fa; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", "DejaVu Sans", sans-serif; color: var(--fg); }
main { max-width: 1180px; margin: 0 auto; padding: 0 24px 48px; }
.verdict { padding: 22px 24px; color: #fff; }
.verdict .word { font-size: 44px; font-weight: 800; letter-spacing: 0.04em; line-height: 1.1; }
.verdict .line { font-size: 15px; opacity: 0.95; margin-top: 4px; }
.verdict .run { font: 13px/1.4 ui-monospace, "DejaVu Sans Mono", monospace; opacity: 0.9; margin-top: 6px; }
.verdict.passed { background: #1a7f37; }
.verdict.failed { background: #cf222e; }
.verdict.incomplete { background: #9a6700; }
.verdict.cannot-check { background: #59636e; }
h2 { font-size: 18px; margin: 28px 0 8px; padding-bottom: 4px; border-bottom: 1px solid var(--line); }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: 4px 16px; margin: 16px 0 0; }
dl.facts dt { color: var(--muted); }
dl.facts dd { margin: 0; }
.big { font-size: 20px; font-weight: 700; }
table { border-collapse: collapse; width: 100%; font-size: 13px; }
th, td { border: 1px solid var(--line); padding: 4px 8px; text-align: left; vertical-align: top; }
th { background: var(--bg-alt); }
code, .hex { font: 12px/1.4 ui-monospace, "DejaVu Sans Mono", monospace; overflow-wrap: anywhere; }
code.root { white-space: nowrap; overflow-wrap: normal; }
tr.changed td, li.changed { background: #ffebe9; }
tr.changed td:first-child { border-left: 4px solid #cf222e; }
.changed-leaf { color: #a40e26; font-weight: 700; }
tr.bad td { background: #fff8c5; }
.ok { color: #1a7f37; font-weight: 600; }
.no { color: #cf222e; font-weight: 600; }
.missing { color: #9a6700; font-weight: 600; }
.muted { color: var(--muted); }
figure { margin: 16px 0; }
figure img { max-width: 100%; height: auto; border: 1px solid var(--line); }
figcaption { color: var(--muted); font-size: 13px; }
footer { color: var(--muted); font-size: 12px; margin-top: 32px; }
"""
