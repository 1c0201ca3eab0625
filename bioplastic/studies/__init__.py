"""Studies: what an experiment YAML's ``study:`` key selects. Each module defines
``EXTRA_DEFAULTS`` (its config schema beyond the common one) and ``run(config, out_dir) -> metrics``;
``plot(metrics, config, out_dir) -> [paths]`` draws every figure of a run from the files of its
folder (``run`` saves what they need and calls it; so does ``bioplastic plot``), and
``report([(config, metrics), ...]) -> str`` writes the Markdown tables of run folders
(``bioplastic report``)."""
from __future__ import annotations

import difflib
import importlib

from bioplastic.config import COMMON_DEFAULTS, deep_merge
from bioplastic.errors import ConfigError

STUDIES = {
    "supervised": "bioplastic.studies.supervised",
    "pruning": "bioplastic.studies.pruning",
    "neuron_models": "bioplastic.studies.neuron_models",
    "forgetting": "bioplastic.studies.forgetting",
    "unsupervised": "bioplastic.studies.unsupervised",
    "conv_stdp": "bioplastic.studies.conv_stdp",
    "forgetting_conv": "bioplastic.studies.forgetting_conv",
}


def study_module(name: str | None):
    if name not in STUDIES:
        close = difflib.get_close_matches(str(name), list(STUDIES), n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ConfigError(f"unknown study {name!r}.{hint} The config's `study:` key must be one of: "
                          f"{', '.join(sorted(STUDIES))}.")
    return importlib.import_module(STUDIES[name])


def study_defaults(name: str | None) -> dict:
    module = study_module(name)
    return deep_merge(COMMON_DEFAULTS, getattr(module, "EXTRA_DEFAULTS", {}), strict=False)
