"""The rendered board's plots and its static HTML page, the latter checked in a real headless
browser (Debian's chromium, which .ci/run installs): the page loads, a header click sorts the
table, a screenshot is taken, and the cells are the board's own numbers."""

from __future__ import annotations

import csv
import hashlib
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from llmrec_benchmark.boards.leaderboard import render
from llmrec_benchmark.store.results import ResultStore

COMMITTED = Path(__file__).resolve().parents[1] / "leaderboards" / "ci"
CARDS = {"darec": {"name": "darec", "title": "DARec", "fidelity": "reconstructed-from-abstract",
                   "deviations": ["a stated deviation"], "description": "d"}}


@pytest.fixture(scope="module")
def board(tmp_path_factory):
    """The committed ci records, rendered afresh into a scratch folder."""
    root = tmp_path_factory.mktemp("board") / "ci"
    shutil.copytree(COMMITTED / "per_user", root / "per_user")
    shutil.copyfile(COMMITTED / "records.jsonl", root / "records.jsonl")
    render(ResultStore(root), "ci", CARDS)
    return root


def _digests(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.glob("*.png"))}


def test_plots_are_written_linked_and_byte_stable(board):
    names = set(_digests(board / "plots"))
    assert {"ml-100k-accuracy-vs-cost.png", "ml-100k-full.png", "ml-100k-cand-19.png", "ml-100k-cand-99.png",
            "ml-100k-ablation.png", "ml-100k-slices.png"} == names
    markdown = (board / "README.md").read_text()
    assert all(f"(plots/{name})" in markdown for name in names)
    before = _digests(board / "plots")
    render(ResultStore(board), "ci", CARDS)
    assert _digests(board / "plots") == before


def _browser() -> str | None:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None and os.environ.get("BENCHMARK_REQUIRE_BROWSER"):
        pytest.fail("BENCHMARK_REQUIRE_BROWSER is set but no chromium is installed")
    if found is None:
        pytest.skip("no chromium on this machine (.ci/run installs Debian's chromium)")
    return found


def _chromium(browser: str, *args: str) -> str:
    done = subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", *args],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def _first_table(dom: str) -> tuple[list[str], list[list[str]]]:
    table = dom.split('<table class="board">', 1)[1].split("</table>", 1)[0]
    header = [re.sub(r"<[^>]+>", "", h) for h in re.findall(r"<th[^>]*>(.*?)</th>", table)]
    rows = [[re.sub(r"<[^>]+>", "", c) for c in re.findall(r"<td[^>]*>(.*?)</td>", row)]
            for row in re.findall(r"<tr[^>]*>(.*?)</tr>", table.split("<tbody>", 1)[1])]
    return header, rows


def test_html_board_sorts_in_a_real_browser_and_shows_the_boards_numbers(board, tmp_path):
    browser = _browser()
    page = (board / "index.html").as_uri()
    header, unsorted = _first_table((board / "index.html").read_text())
    column = header.index("NDCG@10")
    dom = _chromium(browser, "--dump-dom", f"{page}#sort=0,{column},desc")
    sorted_header, rows = _first_table(dom)
    assert 'data-order="desc"' in dom and sorted_header[column].startswith("NDCG@10")
    ranked = [r for r in rows if r[column] != "n/a"]
    values = [float(r[column].split(" ")[0]) for r in ranked]
    assert values == sorted(values, reverse=True) and len(rows) == len(unsorted)
    assert [r[column] for r in rows[len(ranked):]] == ["n/a"] * (len(rows) - len(ranked))  # n/a rows last
    with (board / "leaderboard.csv").open() as handle:
        expected = {r["method"]: float(r["mean"]) for r in csv.DictReader(handle)
                    if r["protocol"] == "full" and r["metric"] == "NDCG@10" and r["rank"]}
    assert {r[1]: v for r, v in zip(ranked, values)} == pytest.approx(expected, abs=5e-5)
    assert dom.count('src="data:image/png;base64,') == 6 and "a stated deviation" in dom
    assert 'id="filter-text"' in dom and '<a href="#card-sasrec-ce"><code>sasrec-ce</code></a>' in dom
    assert '<tr class="llm">' in dom and '<tr class="classic">' in dom
    best_first = _chromium(browser, "--dump-dom", f"{page}#sort=0,{column}")  # one click: best first
    assert 'data-order="desc"' in best_first
    rank_first = _chromium(browser, "--dump-dom", f"{page}#sort=0,0")  # the rank column: rank 1 first
    assert 'data-order="asc"' in rank_first
    shot = tmp_path / "board.png"
    _chromium(browser, "--window-size=1400,900", f"--screenshot={shot}", f"{page}#sort=0,{column},desc")
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000


def test_the_filter_bar_hides_sections_and_llm_rows_in_a_real_browser(board, tmp_path):
    browser = _browser()
    page = board / "index.html"
    script = ("<script>document.getElementById('filter-text').value='99 sampled';"
              "document.getElementById('filter-llm').checked=false;applyFilters();</script></body>")
    filtered = tmp_path / "filtered.html"
    filtered.write_text(page.read_text().replace("</body>", script))
    dom = _chromium(browser, "--dump-dom", filtered.as_uri())
    sections = re.findall(r'<section class="board-section" data-heading="([^"]*)"( hidden="")?', dom)
    shown = [heading for heading, hidden in sections if not hidden]
    assert shown and all("99 sampled" in heading for heading in shown) and len(shown) < len(sections)
    assert '<tr class="llm" hidden="">' in dom and '<tr class="classic" hidden="">' not in dom
