"""Dataset cards: every card converts and loads through RecBole with the published statistics;
downloads are checksum-verified."""

import hashlib

import pytest

from llmrec_benchmark.data.catalog import available_datasets, load_card
from llmrec_benchmark.data.loading import load_split
from llmrec_benchmark.errors import BenchmarkError

# users, items, interactions after each card's filtering (published numbers where they exist:
# S3-Rec Beauty 22,363 / 12,101 / 198,502; LLMRank Games-6k 50,546 / 16,859 / 440,264)
EXPECTED = {
    "ml-100k": (943, 1349, 99287),
    "lastfm": (1362, 2975, 64286),
    "games-6k": (50546, 16859, 440264),
    "beauty": (22363, 12101, 198502),
    "sports": (35598, 18357, 296337),
    "toys": (19412, 11924, 167597),
    "yelp": (30431, 20033, 316354),
}


def test_every_card_is_covered():
    assert sorted(available_datasets()) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_card_loads_with_published_statistics(name, mirror, tmp_cache):
    data = load_split(name, mirror=mirror)
    assert (len(data.sequences), data.n_items - 1, data.n_interactions) == EXPECTED[name]
    card = load_card(name)
    if card.text_fields:
        assert all(text and text != "[PAD]" for text in data.item_text[1:50])


def test_download_is_checksum_verified(tmp_path, tmp_cache, monkeypatch):
    source = tmp_path / "remote.txt"
    source.write_text("1 1 2 3 4 5\n2 2 3 4 5 6\n3 3 4 5 6 1\n")
    good = hashlib.sha256(source.read_bytes()).hexdigest()
    cards = tmp_path / "cards"
    cards.mkdir()
    monkeypatch.setenv("BENCHMARK_CARDS_DIR", str(cards))
    monkeypatch.delenv("BENCHMARK_DATA_MIRROR", raising=False)
    template = ("name: {n}\ntitle: t\nlicence: test\nfiltering: {{user_min: 3, item_min: 1}}\nsource:\n  kind: files\n"
                "  format: s3rec-txt\n  files:\n    - {{role: inter, url: '{u}', sha256: '{s}'}}\n")
    (cards / "remote.yaml").write_text(template.format(n="remote", u=source.as_uri(), s=good))
    data = load_split("remote")
    assert data.n_interactions == 15
    (cards / "tampered.yaml").write_text(template.format(n="tampered", u=source.as_uri(), s="f" * 64))
    with pytest.raises(BenchmarkError, match="checksum mismatch .* expected sha256 f{64}, found " + good):
        load_split("tampered")
