"""The static HTML leaderboard: one self-contained ``index.html`` per profile.

It is built from the rendered Markdown board (so the HTML can never show other numbers than
``README.md``): headings and paragraphs become HTML, every Markdown table a sortable table, every
plot link an inline PNG (base64), and a last section lists the method cards (fidelity, paper,
components, deviations) when the caller passes them. No external file, font or script is loaded.

Sorting: clicking a column header sorts the table by that column (numbers by value, where a cell
such as ``0.4312 ± 0.0100``, ``=2`` or ``1.25M`` sorts by its first number, k/M/G suffixes read as
thousands/millions/billions; other cells after numbers, by text). The first click sorts best
first: descending for metrics, ascending for ranks, costs (seconds, MB, parameters, tokens) and
p-values; a second click reverses. The address fragment ``#sort=T,C`` clicks header C of table T on load
(``#sort=T,C,asc`` or ``,desc`` clicks again if needed to get that order), so a headless browser
can exercise the same handler.
"""

from __future__ import annotations

import base64
import html
import re
from pathlib import Path
from typing import Any, Mapping

_IMAGE = re.compile(r"^!\[(?P<alt>[^\]]*)\]\((?P<src>[^)]+)\)$")
_CODE = re.compile(r"`([^`]+)`")
_BOLD = re.compile(r"\*\*([^*]+)\*\*")

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; max-width: 1400px; }
table { border-collapse: collapse; margin: 1em 0; font-size: 13px; }
th, td { border: 1px solid #ccc; padding: 3px 7px; text-align: left; white-space: nowrap; }
td:last-child { white-space: normal; }
th { background: #eee; cursor: pointer; user-select: none; }
th[data-order="asc"]::after { content: " \\25B2"; } th[data-order="desc"]::after { content: " \\25BC"; }
code { background: #f4f4f4; padding: 0 2px; } img { max-width: 700px; display: block; margin: 1em 0; }
.card { border: 1px solid #ddd; padding: 0.5em 1em; margin: 1em 0; }
"""

SCRIPT = """
const SCALE = {k: 1e3, M: 1e6, G: 1e9};
function sortKey(text) {
  const match = text.replace(/,/g, '').match(/(-?\\d+(\\.\\d+)?(e-?\\d+)?)([kMG](?![A-Za-z]))?/);
  return match ? [0, parseFloat(match[1]) * (SCALE[match[4]] || 1)] : [1, text];
}
function lowerIsBetter(header) {
  return /^#$|^p\\b| s\\b|\\bs \\(|MB|params|tokens|^epochs$|^seeds$|^users$/.test(header.trim());
}
function sortTable(table, column, descending) {
  const body = table.tBodies[0];
  const rows = Array.from(body.rows);
  rows.sort((a, b) => {
    const x = sortKey(a.cells[column].textContent.trim()), y = sortKey(b.cells[column].textContent.trim());
    if (x[0] !== y[0]) return x[0] - y[0];
    const order = x[1] < y[1] ? -1 : x[1] > y[1] ? 1 : 0;
    return descending ? -order : order;
  });
  rows.forEach(row => body.appendChild(row));
  table.querySelectorAll('th').forEach(th => th.removeAttribute('data-order'));
  table.tHead.rows[0].cells[column].setAttribute('data-order', descending ? 'desc' : 'asc');
}
document.querySelectorAll('table.board').forEach(table => {
  Array.from(table.tHead.rows[0].cells).forEach((th, column) => th.addEventListener('click', () => {
    const order = th.getAttribute('data-order');
    const firstDescending = !lowerIsBetter(th.textContent);
    sortTable(table, column, order ? order === 'asc' : firstDescending);
  }));
});
const wanted = location.hash.match(/^#sort=(\\d+),(\\d+)(,(asc|desc))?$/);
if (wanted) {
  const th = document.querySelectorAll('table.board')[+wanted[1]].tHead.rows[0].cells[+wanted[2]];
  th.click();
  if (wanted[4] && th.getAttribute('data-order') !== wanted[4]) th.click();
}
"""


def _inline(text: str) -> str:
    escaped = html.escape(text, quote=False)
    return _BOLD.sub(r"<b>\1</b>", _CODE.sub(r"<code>\1</code>", escaped))


def _cells(line: str) -> list[str]:
    return [c.strip() for c in line.strip().strip("|").split("|")]


def _table(lines: list[str]) -> str:
    header, rows = _cells(lines[0]), [_cells(line) for line in lines[2:]]
    head = "".join(f"<th>{_inline(c)}</th>" for c in header)
    body = "".join("<tr>" + "".join(f"<td>{_inline(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f'<table class="board"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _image(alt: str, src: str, folder: Path) -> str:
    data = base64.b64encode((folder / src).read_bytes()).decode()
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'


def _cards(cards: Mapping[str, Mapping[str, Any]]) -> list[str]:
    parts = ["<h2>Method cards</h2>"]
    for name, card in sorted(cards.items()):
        paper = card.get("paper") or "(no paper: reference heuristic)"
        arxiv = f' (<a href="https://arxiv.org/abs/{html.escape(card["arxiv"])}">arXiv {html.escape(card["arxiv"])}</a>)' \
            if card.get("arxiv") else ""
        deviations = "".join(f"<li>{_inline(d)}</li>" for d in card.get("deviations", ()))
        parts.append(
            f'<div class="card" id="card-{html.escape(name)}"><h3><code>{html.escape(name)}</code>: '
            f'{_inline(card.get("title", ""))}</h3><p>Fidelity: <b>{html.escape(card.get("fidelity", ""))}</b>. '
            f"Paper: {_inline(paper)}{arxiv}.</p><p>{_inline(card.get('description', ''))}</p>"
            f"<p>Components (ablation switches): {_inline(', '.join(card.get('components', ())) or 'none')}.</p>"
            + (f"<p>Deviations from the paper:</p><ul>{deviations}</ul>" if deviations else "") + "</div>"
        )
    return parts


def markdown_to_html(markdown: str, folder: Path, cards: Mapping[str, Mapping[str, Any]] | None = None) -> str:
    """The whole page for a board's Markdown (images resolved relative to ``folder``)."""
    lines, parts, title = markdown.splitlines(), [], "Leaderboard"
    index = 0
    while index < len(lines):
        line = lines[index]
        if line.startswith("|"):
            block = []
            while index < len(lines) and lines[index].startswith("|"):
                block.append(lines[index])
                index += 1
            parts.append(_table(block))
            continue
        image = _IMAGE.match(line.strip())
        if line.startswith("# "):
            title = line[2:].replace("`", "")
            parts.append(f"<h1>{_inline(line[2:])}</h1>")
        elif line.startswith("## "):
            parts.append(f"<h2>{_inline(line[3:])}</h2>")
        elif image:
            parts.append(_image(image["alt"], image["src"], folder))
        elif line.strip():
            parts.append(f"<p>{_inline(line)}</p>")
        index += 1
    if cards:
        parts += _cards(cards)
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
            f"<style>{STYLE}</style></head><body>\n" + "\n".join(parts) + f"\n<script>{SCRIPT}</script></body></html>\n")
