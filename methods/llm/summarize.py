"""LLM-TRSR's summariser stage: a frozen instruct LLM condenses a long history into a preference
summary, block by block.

The history (its most recent ``block_size * max_blocks`` items) is cut into blocks of
``block_size`` items, oldest first; only the last block can be shorter.
- hierarchical: summarise every block on its own, then summarise the block summaries (in order);
- recurrent: summarise the first block, then update that summary with each next block; the
  final summary is the one after the last block.
A history of a single block is summarised once in both orders (there is nothing to merge or update).

Generation goes through ``TextGenerator`` (greedy, memoised by prompt), level by level over all
users at once, so each level is a few large batches. The prompt wording is this suite's own
(``SUMMARY_PROMPT_VERSION`` changes whenever it does, and is part of every memo key).
"""

from __future__ import annotations

from typing import Sequence

from llmrec_methods.llm.generation import GenerationStats, TextGenerator

SUMMARY_PROMPT_VERSION = 1
SUMMARY_TYPES = ("hierarchical", "recurrent")

BLOCK_PROMPT = (
    "A user interacted with these items, oldest first:\n{items}\n"
    "In two or three sentences, describe this user's tastes and preferences."
)
MERGE_PROMPT = (
    "Here are summaries of one user's preferences over consecutive periods, oldest first:\n{summaries}\n"
    "Combine them into a single short summary of the user's overall preferences, in the same style."
)
UPDATE_PROMPT = (
    "Summary of a user's preferences so far:\n{summary}\n"
    "The user then interacted with these items, oldest first:\n{items}\n"
    "Check whether the preferences changed and write an updated short summary that covers the whole "
    "history (one summary, not a separate note about the new items)."
)


def segment_blocks(history: Sequence[int], block_size: int, max_blocks: int) -> list[list[int]]:
    """The most recent ``block_size * max_blocks`` items, in chronological blocks of ``block_size``."""
    if block_size < 1 or max_blocks < 1:
        raise ValueError(f"block_size and max_blocks must be positive, found {block_size} and {max_blocks}")
    window = list(history)[-block_size * max_blocks :]
    return [window[start : start + block_size] for start in range(0, len(window), block_size)]


def _items(block: Sequence[int], item_text: Sequence[str]) -> str:
    return "\n".join(f"- {item_text[i]}" for i in block)


def block_prompt(block: Sequence[int], item_text: Sequence[str]) -> str:
    return BLOCK_PROMPT.format(items=_items(block, item_text))


def merge_prompt(summaries: Sequence[str]) -> str:
    return MERGE_PROMPT.format(summaries="\n".join(f"{n}. {s}" for n, s in enumerate(summaries, start=1)))


def update_prompt(summary: str, block: Sequence[int], item_text: Sequence[str]) -> str:
    return UPDATE_PROMPT.format(summary=summary, items=_items(block, item_text))


def summarize_histories(
    histories: Sequence[Sequence[int]], item_text: Sequence[str], summary_type: str, block_size: int,
    max_blocks: int, generator: TextGenerator,
) -> tuple[list[str], GenerationStats]:
    """One summary per history (``""`` for an empty history), and what generating them cost."""
    if summary_type not in SUMMARY_TYPES:
        raise ValueError(f"summary type must be one of {SUMMARY_TYPES}, found '{summary_type}'")
    blocks = [segment_blocks(h, block_size, max_blocks) for h in histories]
    stats = GenerationStats()

    def run(prompts: list[str], label: str) -> list[str]:
        texts, level = generator.generate(prompts, progress=f"{summary_type} {label}:")
        stats.add(level)
        return texts

    summaries = [""] * len(histories)
    if summary_type == "hierarchical":
        flat = [(row, block) for row, user_blocks in enumerate(blocks) for block in user_blocks]
        texts = run([block_prompt(b, item_text) for _, b in flat], "blocks")
        per_user: list[list[str]] = [[] for _ in histories]
        for (row, _), text in zip(flat, texts):
            per_user[row].append(text)
        merged_rows = [row for row, parts in enumerate(per_user) if len(parts) > 1]
        merged = run([merge_prompt(per_user[row]) for row in merged_rows], "merge")
        for row, parts in enumerate(per_user):
            summaries[row] = parts[0] if len(parts) == 1 else ""
        for row, text in zip(merged_rows, merged):
            summaries[row] = text
        return summaries, stats
    rows = [row for row, user_blocks in enumerate(blocks) if user_blocks]
    for row, text in zip(rows, run([block_prompt(blocks[row][0], item_text) for row in rows], "block 1")):
        summaries[row] = text
    for step in range(1, max_blocks):
        rows = [row for row, user_blocks in enumerate(blocks) if len(user_blocks) > step]
        if not rows:
            break
        prompts = [update_prompt(summaries[row], blocks[row][step], item_text) for row in rows]
        for row, text in zip(rows, run(prompts, f"update {step + 1}")):
            summaries[row] = text
    return summaries, stats
