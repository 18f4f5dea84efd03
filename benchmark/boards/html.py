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

Reading comfort: table headers stay in view while scrolling; a long *notes* cell shows its first
line and the rest on hover; every method name links to its card; a filter bar hides sections whose
heading does not contain the typed text (e.g. ``ml-100k`` or ``19 sampled``) and LLM or classic rows.
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
_ITALIC = re.compile(r"(?<![*\w])\*([^*\s][^*]*)\*(?![*\w])")

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; max-width: 1400px; }
table { border-collapse: collapse; margin: 1em 0; font-size: 13px; }
th, td { border: 1px solid #ccc; padding: 3px 7px; text-align: left; white-space: nowrap; }
td:last-child { white-space: normal; }
th { background: #eee; cursor: pointer; user-select: none; position: sticky; top: 0; z-index: 1; }
td.note { max-width: 30em; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
td.note:hover { white-space: normal; overflow: visible; }
#filters { position: sticky; top: 0; background: #fff; padding: 0.4em 0; z-index: 2; border-bottom: 1px solid #ddd; }
#filters label { margin-right: 1.2em; } a code { color: #0645ad; }
th[data-order="asc"]::after { content: " \\25B2"; } th[data-order="desc"]::after { content: " \\25BC"; }
code { background: #f4f4f4; padding: 0 2px; }
blockquote { margin: 0.3em 0; padding: 0.2em 0.8em; border-left: 3px solid #d9534f; background: #fafafa; } img { max-width: 700px; display: block; margin: 1em 0; }
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
function applyFilters() {
  const text = document.getElementById('filter-text').value.trim().toLowerCase();
  const llm = document.getElementById('filter-llm').checked, classic = document.getElementById('filter-classic').checked;
  document.querySelectorAll('section.board-section').forEach(section => {
    section.hidden = text !== '' && !section.dataset.heading.toLowerCase().includes(text);
  });
  document.querySelectorAll('tr.llm').forEach(row => { row.hidden = !llm; });
  document.querySelectorAll('tr.classic').forEach(row => { row.hidden = !classic; });
}
['filter-text', 'filter-llm', 'filter-classic'].forEach(id => {
  const element = document.getElementById(id);
  if (element) element.addEventListener('input', applyFilters);
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
    return _ITALIC.sub(r"<i>\1</i>", _BOLD.sub(r"<b>\1</b>", _CODE.sub(r"<code>\1</code>", escaped)))


def _cells(line: str) -> list[str]:
    return [c.strip() for c in line.strip().strip("|").split("|")]


def _table(lines: list[str], cards: Mapping[str, Any], llm: set[str]) -> str:
    header, rows = _cells(lines[0]), [_cells(line) for line in lines[2:]]
    head = "".join(f"<th>{_inline(c)}</th>" for c in header)
    note = header.index("notes") if "notes" in header else None
    body = []
    for row in rows:
        method = next((m.group(1) for c in row for m in [_CODE.search(c)] if m), None)
        base = method.split("[")[0] if method else None
        kind = "" if base is None or base not in cards else f' class="{"llm" if base in llm else "classic"}"'
        cells = []
        for index, cell in enumerate(row):
            text = _linked(_inline(cell), cards)
            if index == note and cell:
                cells.append(f'<td class="note" title="{html.escape(cell)}">{text}</td>')
            else:
                cells.append(f"<td>{text}</td>")
        body.append(f"<tr{kind}>" + "".join(cells) + "</tr>")
    return f'<table class="board"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>'


def _linked(cell_html: str, cards: Mapping[str, Any]) -> str:
    """``<code>name</code>`` (or a variant of it) links to that method's card."""
    def link(match: re.Match) -> str:
        base = html.unescape(match.group(1)).split("[")[0]
        return f'<a href="#card-{html.escape(base)}">{match.group(0)}</a>' if base in cards else match.group(0)

    return re.sub(r"<code>([^<]+)</code>", link, cell_html)


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


def markdown_to_html(markdown: str, folder: Path, cards: Mapping[str, Mapping[str, Any]] | None = None,
                     llm_methods: set[str] | None = None) -> str:
    """The whole page for a board's Markdown (images resolved relative to ``folder``); ``llm_methods``
    names the methods whose rows the LLM filter hides or shows."""
    lines, parts, title = markdown.splitlines(), [], "Leaderboard"
    cards, llm = cards or {}, llm_methods or set()
    index, open_section = 0, False
    while index < len(lines):
        line = lines[index]
        if line.startswith("|"):
            block = []
            while index < len(lines) and lines[index].startswith("|"):
                block.append(lines[index])
                index += 1
            parts.append(_table(block, cards, llm))
            continue
        image = _IMAGE.match(line.strip())
        heading = re.match(r"^(#{1,6}) (.*)$", line)
        if heading and len(heading.group(1)) == 1:
            title = heading.group(2).replace("`", "")
            parts.append(f"<h1>{_inline(heading.group(2))}</h1>")
            parts.append('<div id="filters"><label>Show sections whose heading contains <input id="filter-text" '
                         'size="24" placeholder="e.g. ml-100k or 19 sampled"></label><label><input type="checkbox" '
                         'id="filter-llm" checked> LLM methods</label><label><input type="checkbox" id="filter-classic" '
                         'checked> classic methods</label></div>')
        elif heading:
            level = len(heading.group(1))
            if level == 2:
                parts.append("</section>" if open_section else "")
                parts.append(f'<section class="board-section" data-heading="{html.escape(heading.group(2))}">')
                open_section = True
            parts.append(f"<h{level}>{_inline(heading.group(2))}</h{level}>")
        elif image:
            parts.append(_image(image["alt"], image["src"], folder))
        elif line.startswith("> "):
            parts.append(f"<blockquote>{_inline(line[2:])}</blockquote>")
        elif line.strip():
            parts.append(f"<p>{_inline(line)}</p>")
        index += 1
    if open_section:
        parts.append("</section>")
    if cards:
        parts += _cards(cards)
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
            f"<style>{STYLE}</style></head><body>\n" + "\n".join(p for p in parts if p) + f"\n<script>{SCRIPT}</script></body></html>\n")
