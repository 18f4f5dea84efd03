"""Building RecBole ``Config`` objects safely.

RecBole's ``Config`` parses ``sys.argv`` for ``--key=value`` pairs and merges them into the config,
so a harness flag such as ``--seeds=0`` could silently change a model. It also logs and warns
noisily. ``recbole_config`` hides ``sys.argv`` and the noise while the Config is built.

RecBole also unpickles ``<checkpoint_dir>/<dataset>-<class>.pth`` (default ``./saved``) in
``create_dataset`` when such a file exists, and its dataloader helpers do the same with
``dataloaders_save_path``: a file planted in the working directory would run code. Every Config
built here points ``checkpoint_dir`` at a private (mode 0700), empty folder of this process and
clears the save paths, whatever the caller passed; nothing the harness calls ever writes there.
"""

from __future__ import annotations

import atexit
import logging
import shutil
import sys
import tempfile
import warnings
from functools import lru_cache
from pathlib import Path
from typing import Any

# keys that make RecBole read or write pickles; always overridden (see the module docstring)
_PICKLE_KEYS = {"dataset_save_path": None, "dataloaders_save_path": None, "save_dataset": False, "save_dataloaders": False}


@lru_cache(maxsize=1)
def private_checkpoint_dir() -> Path:
    """An empty folder only this process can write to, removed at exit."""
    folder = Path(tempfile.mkdtemp(prefix="benchmark-recbole-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return folder


def recbole_config(model: str, dataset: str, config_dict: dict[str, Any]):
    from recbole.config import Config

    saved_argv, sys.argv = sys.argv, sys.argv[:1]
    root = logging.getLogger()
    saved_disabled, root.disabled = root.disabled, True
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            safe = {**config_dict, **_PICKLE_KEYS, "checkpoint_dir": str(private_checkpoint_dir())}
            return Config(model=model, dataset=dataset, config_dict=safe)
    finally:
        sys.argv = saved_argv
        root.disabled = saved_disabled
