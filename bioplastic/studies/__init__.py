"""Studies: what an experiment YAML's ``study:`` key selects. Each module defines
``run(config, out_dir) -> metrics`` (its config sections are in ``bioplastic.schema``);
``plot(metrics, config, out_dir) -> [paths]`` draws every figure of a run from the files of its
folder (``run`` saves what they need and calls it; so does ``bioplastic plot``), and
``report([(config, metrics), ...]) -> str`` writes the Markdown tables of run folders
(``bioplastic report``)."""
from __future__ import annotations

import importlib

from bioplastic import schema
from bioplastic.config import check_study

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
    return importlib.import_module(STUDIES[check_study(name)])


def study_defaults(name: str | None) -> dict:
    return schema.defaults(check_study(name))
