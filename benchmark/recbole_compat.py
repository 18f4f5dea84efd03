"""Building RecBole ``Config`` objects safely.

RecBole's ``Config`` parses ``sys.argv`` for ``--key=value`` pairs and merges them into the config,
so a harness flag such as ``--seeds=0`` could silently change a model. It also logs and warns
noisily. ``recbole_config`` hides ``sys.argv`` and the noise while the Config is built.
"""

from __future__ import annotations

import logging
import sys
import warnings
from typing import Any


def recbole_config(model: str, dataset: str, config_dict: dict[str, Any]):
    from recbole.config import Config

    saved_argv, sys.argv = sys.argv, sys.argv[:1]
    root = logging.getLogger()
    saved_disabled, root.disabled = root.disabled, True
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return Config(model=model, dataset=dataset, config_dict=config_dict)
    finally:
        sys.argv = saved_argv
        root.disabled = saved_disabled
