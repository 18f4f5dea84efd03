"""DELRec's three prompts, built as packed token rows (tensor ops over the batch, no per-user loop).

Wording is this suite's own paraphrase of the paper's templates. Every prompt opens with a
constant instruction, then (when the soft prompt is on) the sentence naming the teacher's pattern
followed by P placeholder tokens whose embeddings the soft prompt replaces; the placeholder
therefore starts at the same column ``soft_at`` in every row. Items are rendered as their titles,
one per line; each candidate set is listed in a seeded per-user pseudo-random order (a hash of
user, item and ``LISTING_SEED``), so the listing neither reveals which candidate is the target
(the order ignores the order the candidates arrive in) nor carries a popularity cue (on ml-100k
item ids track popularity, Spearman -0.81, so an id-ordered listing would put popular items first). Each row ends with one suffix per candidate: its title and a newline,
scored by ``methods.llm.title_scoring``.

- ``recommend`` (stage 2 and evaluation): history + candidate set -> the next item.
- ``pattern`` (stage 1, Recommendation Pattern Simulating): history + a candidate set holding the
  teacher's top-k -> the item the teacher ranks first.
- ``temporal`` (stage 1, Temporal Analysis): an in-context example from the user's own earlier
  items (items, a hidden item, the item that followed, then the hidden item revealed), then the
  query (recent items, a hidden item, the teacher's prediction of what follows) -> the hidden
  (most recent) item.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor
from transformers import PreTrainedTokenizerBase

from llmrec_methods.llm.prompts import ItemTokenTable, token_ids
from llmrec_methods.llm.yesno import PackedBatch, Segment, constant, pack, ragged, suffixes

PROMPT_VERSION = 2  # 2: candidates listed in a seeded per-user order instead of item-id order
LISTING_SEED = 20240617
_MASK32 = 0xFFFFFFFF


def listing_order(users: Tensor, candidates: Tensor, seed: int = LISTING_SEED) -> Tensor:
    """``candidates`` [B, C] re-ordered by a 32-bit integer hash of (seed, user, item): a fixed
    pseudo-random order per user, the same whatever order the candidates arrive in, and unrelated
    to the ids' own order (vectorised; a murmur-style finaliser mixes the bits)."""
    x = (candidates * 0x9E3779B1 + users.unsqueeze(1) * 0x85EBCA77 + seed * 0xC2B2AE3D) & _MASK32
    for shift, factor in ((16, 0x7FEB352D), (15, 0x846CA68B)):
        x = ((x ^ (x >> shift)) * factor) & _MASK32
    x = x ^ (x >> 16)
    return torch.gather(candidates, 1, torch.argsort(x, dim=1, stable=True))


@dataclass(frozen=True)
class Texts:
    recommend: str
    pattern: str
    temporal: str


INTROS_WITH_PATTERN = Texts(
    recommend="Use the recommendation pattern of the {teacher} model to choose, from the candidate set, the item "
              "the user will interact with next.\n",
    pattern="Simulate the recommendation pattern of the {teacher} model: choose, from the candidate set, the item "
            "the {teacher} model recommends first to this user.\n",
    temporal="Analyse the order of the user's items the way the {teacher} model does.\n",
)
INTROS_WITHOUT_PATTERN = Texts(
    recommend="Choose, from the candidate set, the item the user will interact with next.\n",
    pattern="Choose, from the candidate set, the item a sequential recommender recommends first to this user.\n",
    temporal="Analyse the order of the user's items.\n",
)
PATTERN_SENTENCE = "The recommendation pattern of the {teacher} model is:"
HISTORY = "\nThe user's items, oldest first:\n"
CANDIDATES = "The candidate set:\n"
RECOMMEND_CUE = "The item the user will interact with next:\n"
PATTERN_CUE = "The item the {teacher} model recommends first:\n"
EXAMPLE_OPEN = "\nAn example from earlier. The user interacted with:\n"
EXAMPLE_HIDDEN = "then with a hidden item, followed by:\n"
EXAMPLE_ANSWER = "The hidden item was:\n"
QUERY_OPEN = "Now the user interacted with:\n"
QUERY_HIDDEN = "then with a hidden item, followed, as the {teacher} model predicts, by:\n"
HIDDEN_CUE = "The hidden item was:\n"


class DelrecPrompts:
    def __init__(self, tokenizer: PreTrainedTokenizerBase, item_text: tuple[str, ...], item_max_tokens: int,
                 soft_tokens: int, teacher: str = "SASRec"):
        self.table = ItemTokenTable(item_text, tokenizer, item_max_tokens)
        self.soft_tokens = soft_tokens
        intros = INTROS_WITH_PATTERN if soft_tokens else INTROS_WITHOUT_PATTERN

        def ids(text: str) -> Tensor:
            return token_ids(tokenizer, text.format(teacher=teacher))

        pattern = ids(PATTERN_SENTENCE) if soft_tokens else torch.zeros(0, dtype=torch.long)
        self.openings = {name: torch.cat([ids(getattr(intros, name)), pattern]) for name in ("recommend", "pattern", "temporal")}
        self.placeholder = torch.full((soft_tokens,), int(tokenizer.pad_token_id or 0), dtype=torch.long)
        self.fixed = {key: ids(text) for key, text in {
            "history": HISTORY, "candidates": CANDIDATES, "recommend_cue": RECOMMEND_CUE, "pattern_cue": PATTERN_CUE,
            "example_open": EXAMPLE_OPEN, "example_hidden": EXAMPLE_HIDDEN, "example_answer": EXAMPLE_ANSWER,
            "query_open": QUERY_OPEN, "query_hidden": QUERY_HIDDEN, "hidden_cue": HIDDEN_CUE,
        }.items()}

    def title_vocabulary(self) -> Tensor:
        """Sorted ids of every token a candidate suffix can hold (title tokens and the newline)."""
        table = self.table
        used = table.tokens[torch.arange(table.width) < table.lengths.unsqueeze(1)]
        return torch.unique(used)

    def soft_at(self, task: str) -> int | None:
        """Column where the soft prompt's placeholder starts in every row of ``task``'s prompts."""
        return int(self.openings[task].numel()) if self.soft_tokens else None

    # -- segments --------------------------------------------------------------------------------
    def _opening(self, task: str, batch: int) -> list[Segment]:
        segments = [constant(self.openings[task], batch)]
        if self.soft_tokens:
            segments.append(constant(self.placeholder, batch))
        return segments

    def _items(self, items: Tensor) -> Segment:
        """Titles of ``items`` [B, H] (0 = no item), one per line."""
        return ragged(self.table.tokens[items], self.table.lengths[items])

    def _text(self, key: str, batch: int, present: Tensor | None = None) -> Segment:
        """A fixed text in every row, or only in rows where ``present`` is True."""
        ids = self.fixed[key]
        if present is None:
            return constant(ids, batch)
        return ragged(ids.expand(batch, -1), torch.where(present, ids.numel(), 0))

    def _candidates(self, users: Tensor, candidates: Tensor) -> list[Segment]:
        batch = candidates.size(0)
        return [self._text("candidates", batch), self._items(listing_order(users, candidates))]

    def _titles(self, candidates: Tensor) -> Segment:
        return suffixes(self.table.tokens[candidates], self.table.lengths[candidates])

    # -- prompts ---------------------------------------------------------------------------------
    def recommend(self, users: Tensor, history: Tensor, candidates: Tensor) -> PackedBatch:
        batch = history.size(0)
        return pack([
            *self._opening("recommend", batch), self._text("history", batch), self._items(history),
            *self._candidates(users, candidates), self._text("recommend_cue", batch), self._titles(candidates),
        ])

    def pattern(self, users: Tensor, history: Tensor, candidates: Tensor) -> PackedBatch:
        batch = history.size(0)
        return pack([
            *self._opening("pattern", batch), self._text("history", batch), self._items(history),
            *self._candidates(users, candidates), self._text("pattern_cue", batch), self._titles(candidates),
        ])

    def temporal(self, example: Tensor, example_hidden: Tensor, example_next: Tensor, query: Tensor,
                 teacher_next: Tensor, candidates: Tensor) -> PackedBatch:
        """``example`` [B, E] items before the example's hidden item, ``example_hidden`` and
        ``example_next`` [B] (0 where the user has no example), ``query`` [B, Q] recent items,
        ``teacher_next`` [B] the teacher's prediction after the hidden item."""
        batch = query.size(0)
        has_example = example_hidden > 0
        return pack([
            *self._opening("temporal", batch),
            self._text("example_open", batch, has_example), self._items(example),
            self._text("example_hidden", batch, has_example), self._items(example_next.unsqueeze(1)),
            self._text("example_answer", batch, has_example), self._items(example_hidden.unsqueeze(1)),
            self._text("history", batch, ~has_example), self._text("query_open", batch, has_example),
            self._items(query), self._text("query_hidden", batch), self._items(teacher_next.unsqueeze(1)),
            self._text("hidden_cue", batch), self._titles(candidates),
        ])
