"""``tune``: equal-budget TPE tuning on valid NDCG@10 for each (method, dataset)."""

from __future__ import annotations

from dataclasses import replace

from llmrec_benchmark.commands.common import make_runner, selection, store_for
from llmrec_benchmark.commands.options import Options
from llmrec_benchmark.errors import BenchmarkError


def cmd_tune(args: Options) -> int:
    """Equal-budget TPE tuning on valid NDCG@10 for each (method, dataset); outcomes used by run."""
    from llmrec_benchmark.data.catalog import load_card
    from llmrec_benchmark.engine.planning import RunUnit
    from llmrec_benchmark.engine.tuning import check_space, default_storage, tune_method

    args = replace(args, no_variants=True, seeds=None)
    profile, registry, methods, datasets, _ = selection(args)
    trials = profile.hpo_trials if args.trials is None else args.trials
    if trials < 1:
        raise BenchmarkError(f"profile '{profile.name}' has hpo_trials {profile.hpo_trials}; pass --trials N to tune anyway")
    store = store_for(args, profile, datasets)
    storage = args.storage or default_storage(store.root)
    runner = make_runner(args, profile, store)
    with store.exclusive("tune"):
        seed = profile.seeds[0]
        for name in methods:
            card = registry.get(name).card
            check_space(name, card.search_space, card.defaults)
            for dataset in datasets:
                if not card.search_space:
                    print(f"{name} on {dataset}: the card declares no search space; card defaults are used (0 trials)")
                    continue
                dataset_card = load_card(dataset)
                data = runner.data(dataset_card)
                rows = runner.eval_rows(data)

                def objective_fit(params, dataset_card=dataset_card, data=data, rows=rows):
                    resolved = registry.resolve(name, profile.method_config, params)
                    unit = RunUnit(resolved, dataset_card, seed, "tuning-trial", (), False)
                    method, report, seconds = runner.fit(unit, data, rows)
                    value = report.best_valid if report.best_valid is not None else runner.valid_score(unit, data, rows, method)
                    return value, {"train_s": round(seconds, 3), "stopped_by": report.stopped_by, "epochs": report.epochs}

                outcome = tune_method(name, dataset, profile, card.search_space, trials, storage, store.root, objective_fit)
                print(f"{name} on {dataset}: {outcome['trials']} trials, best valid NDCG@10 {outcome['best_valid']:.4f} "
                      f"with {outcome['params']}")
    print(f"Tuned parameters are in {store.root / 'tuning'}; `run` uses them (records and boards say so).")
    return 0
