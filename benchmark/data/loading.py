"""From a dataset card to ``SplitData``, through RecBole.

Filtering (k-core, iterated) and id remapping are RecBole's (``Config`` + ``create_dataset``), so
they mean what RecBole users expect. Ordering is ours: interactions are sorted by user, then time,
with ties broken by the original row order (a stable sort), which matters for datasets such as
Last.fm whose timestamps tie often. ``recbole.quick_start`` is never imported (it pulls in ray).
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import tempfile
import warnings
from pathlib import Path

import numpy as np
import torch

from llmrec_benchmark.data.cards import DatasetCard
from llmrec_benchmark.data.catalog import load_card
from llmrec_benchmark.data.convert import convert
from llmrec_benchmark.data.fetch import obtain_raw_files
from llmrec_benchmark.data.recbole_compat import recbole_config
from llmrec_benchmark.data.split import SplitData, sequences_from_sorted
from llmrec_benchmark.errors import BenchmarkError
from llmrec_benchmark.paths import cache_dir, default_mirror

log = logging.getLogger(__name__)
MIN_USER_INTERACTIONS = 3  # one train item, the valid target, the test target
USER_CAP_SEED = 0


def atomic_dir(card: DatasetCard, mirror: Path | None) -> Path:
    """Folder holding ``<name>/<name>.inter`` for this exact card; converted once, atomically."""
    root = cache_dir() / "atomic" / f"{card.name}-{card.digest()}"
    if (root / card.name / f"{card.name}.inter").exists():
        return root
    raw = obtain_raw_files(card, mirror, cache_dir() / "raw" / card.name)
    root.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=root.parent, prefix=".convert-"))
    try:
        convert(card, raw, staging / card.name)
        try:
            os.rename(staging, root)
        except OSError:  # another process converted it first
            if not root.exists():
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return root


def recbole_filtering_config(card: DatasetCard, data_path: Path) -> dict:
    """The RecBole config keys that decide which interactions survive loading (fields, columns,
    k-core thresholds): shared with the RecBole reference benchmarks so both read the same data."""
    fields = card.fields
    inter_cols = [fields.user, fields.item] + ([fields.time] if fields.time else [])
    load_col = {"inter": inter_cols}
    if card.text_fields:
        load_col["item"] = [fields.item, *card.text_fields]
    user_min = max(card.filtering.user_min, MIN_USER_INTERACTIONS)
    return {
        "data_path": str(data_path),
        "USER_ID_FIELD": fields.user,
        "ITEM_ID_FIELD": fields.item,
        "TIME_FIELD": fields.time or "timestamp",
        "load_col": load_col,
        "user_inter_num_interval": f"[{user_min},inf)",
        "item_inter_num_interval": f"[{card.filtering.item_min},inf)",
        "normalize_all": False,
    }


def _recbole_dataset(card: DatasetCard, data_path: Path):
    from recbole.data import create_dataset

    config = {
        **recbole_filtering_config(card, data_path),
        "train_neg_sample_args": None,
        "show_progress": False,
        "device": "cpu",
        "use_gpu": False,
        "seed": 0,
        "reproducibility": True,
    }
    recbole = recbole_config("Pop", card.name, config)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return create_dataset(recbole)
        except Exception as exc:  # RecBole reports malformed data as assorted exceptions
            if "feat is empty" in str(exc):
                raise _empty_after_filtering(card) from None
            raise BenchmarkError(f"dataset '{card.name}': RecBole could not load {data_path}: {exc}") from None


def _empty_after_filtering(card: DatasetCard) -> BenchmarkError:
    return BenchmarkError(
        f"dataset '{card.name}': no interactions left after filtering "
        f"(user_min={max(card.filtering.user_min, MIN_USER_INTERACTIONS)}, item_min={card.filtering.item_min})"
    )


def _item_text(card: DatasetCard, dataset, n_items: int) -> tuple[str, ...]:
    if not card.text_fields:
        return ("[PAD]",) + tuple(f"item {t}" for t in dataset.field2id_token[card.fields.item][1:])
    rendered: dict[str, list[str]] = {}
    feat = dataset.item_feat.sort_values(card.fields.item)
    for name in card.text_fields:
        column = feat[name].tolist()
        kind = dataset.field2type[name].value
        tokens = dataset.field2id_token.get(name)
        if kind == "token_seq":
            rendered[name] = [" ".join(tokens[int(i)] for i in np.ravel(ids) if i != 0) for ids in column]
        elif kind == "token":
            rendered[name] = [tokens[int(i)] if int(i) != 0 else "" for i in column]
        else:
            rendered[name] = [str(v) for v in column]
        if len(column) != n_items:
            raise BenchmarkError(f"dataset '{card.name}': item features cover {len(column)} of {n_items} item ids")
    template = card.text_template or " ".join("{" + n + "}" for n in card.text_fields)
    texts = ["[PAD]"]
    for item in range(1, n_items):
        texts.append(template.format(**{n: rendered[n][item] for n in card.text_fields}).strip())
    return tuple(texts)


def _fingerprint(users: torch.Tensor, items: torch.Tensor, offsets: torch.Tensor, n_items: int) -> str:
    digest = hashlib.sha256()
    for tensor in (users, items, offsets):
        digest.update(tensor.numpy().tobytes())
    digest.update(str(n_items).encode())
    return digest.hexdigest()[:16]


def capped_users(users: np.ndarray, user_cap: int) -> np.ndarray:
    """The fixed user subset a profile's ``user_cap`` keeps (sorted RecBole user ids)."""
    generator = np.random.default_rng(USER_CAP_SEED)
    return np.sort(generator.choice(users, size=user_cap, replace=False))


def load_split(dataset: str | DatasetCard, user_cap: int | None = None, mirror: Path | None = None) -> SplitData:
    """Load, filter, order and leave-one-out split a dataset; optionally keep a fixed user subset."""
    card = dataset if isinstance(dataset, DatasetCard) else load_card(dataset)
    root = atomic_dir(card, mirror or default_mirror())
    ds = _recbole_dataset(card, root)
    fields = card.fields
    uids = np.asarray(ds.inter_feat[fields.user])
    iids = np.asarray(ds.inter_feat[fields.item])
    if uids.size == 0:
        raise _empty_after_filtering(card)
    times = np.asarray(ds.inter_feat[fields.time]) if fields.time else np.zeros(uids.size)
    order = np.lexsort((np.arange(uids.size), times, uids))
    uids, iids = uids[order], iids[order]
    users = np.unique(uids)
    if user_cap is not None and user_cap < users.size:
        users = capped_users(users, user_cap)
        keep = np.isin(uids, users)
        uids, iids = uids[keep], iids[keep]
    rows = np.searchsorted(users, uids)
    sequences = sequences_from_sorted(torch.from_numpy(rows), torch.from_numpy(iids.astype(np.int64)), users.size)
    if int(sequences.lengths.min()) < MIN_USER_INTERACTIONS:
        raise BenchmarkError(f"dataset '{card.name}': a user has fewer than {MIN_USER_INTERACTIONS} interactions after filtering")
    n_items = int(ds.item_num)
    users_t = torch.from_numpy(users.astype(np.int64))
    return SplitData(
        dataset=card.name,
        fingerprint=_fingerprint(users_t, sequences.items, sequences.offsets, n_items),
        n_users=int(ds.user_num),
        n_items=n_items,
        users=users_t,
        sequences=sequences,
        item_text=_item_text(card, ds, n_items),
    )
