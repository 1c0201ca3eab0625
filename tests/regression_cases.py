"""Small configs of every study whose outputs are pinned as regression fixtures.

``python tests/regression_cases.py [case ...]`` records them: they were recorded with the
single-shape network code of commit b36ccd6, before networks became named layers and
projections (the overrides were then renamed to the new keys, nothing else);
``tests/test_regression.py`` asserts that they are reproduced exactly.

Each case is an experiment YAML, a variant of it and overrides that make it small; it runs
through the study's own task function on cpp_standalone (training) and the batched runtime
evaluation, and returns its final weights and accuracy curves as arrays.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
FIXTURE_DIR = Path(__file__).resolve().parent / "fixtures" / "regression"

SMALL = ["device.name=cpp_standalone", "evaluation.batch_size=50"]

CASES = {
    # Supervised STDP + All-LTD, adaptive threshold, normalisation, all-but-self inhibition, 2 seeds.
    "supervised": ("supervised_stdp_alltd.yaml", "adaptive_threshold",
                   SMALL + ["seeds=[0,1]", "data.n_train=40", "data.n_test=30", "protocol.eval_every=20",
                            "network.layers.exc.n_per_class=3", "supervised.random_class_sets=0"]),
    # The same with state reset instead of a rest and inhibition within a radius on the sheet.
    "supervised_reset_radius": ("supervised_stdp_alltd.yaml", "no_adaptive_threshold",
                                SMALL + ["seeds=[0,1]", "data.n_train=40", "data.n_test=30",
                                         "protocol.eval_every=20", "network.layers.exc.n_per_class=3",
                                         "supervised.random_class_sets=0", "protocol.reset_state=true",
                                         "protocol.rest_duration=0 ms", "network.layers.exc.inhibition.lateral=radius",
                                         "network.layers.exc.inhibition.radius=1.5"]),
    # Use it or lose it, no normalisation.
    "pruning": ("use_it_or_lose_it.yaml", "tau_15s",
                SMALL + ["seeds=[0]", "data.n_train=40", "network.layers.exc.n_per_class=2",
                         "pruning_study.n_probe=10"]),
    # Forgetting, single layer: teacher, freeze masks and Langevin ranges together.
    "forgetting_single": ("forgetting_dense_class_incremental.yaml", "langevin_d10_d90",
                          SMALL + ["seeds=[0]", "network.layers.exc.n_per_class=2", "forgetting.task1.n_train=20",
                                   "forgetting.task1.n_test=20", "forgetting.task2.n_train=26",
                                   "forgetting.task2.n_test=26", "forgetting.eval_every=13",
                                   "forgetting.langevin.n_images=10", "forgetting.langevin.record_every=2",
                                   "forgetting.freeze.fraction=0.2"]),
    # Forgetting, two layers (hidden radius 3, segments radius 1), freeze in both layers.
    "forgetting_two_layer": ("forgetting_dense_class_incremental.yaml", "two_layer_r3_r1",
                             SMALL + ["seeds=[0]", "network.layers.exc.n_per_class=2", "network.layers.hidden.size=16",
                                      "forgetting.task1.n_train=20", "forgetting.task1.n_test=20",
                                      "forgetting.task2.n_train=26", "forgetting.task2.n_test=26",
                                      "forgetting.eval_every=13", "forgetting.freeze.fraction=0.2"]),
    # The neuron-model swap: Izhikevich RS excitatory neurons in the supervised network.
    "neuron_model_swap": ("neuron_models.yaml", "izhikevich_rs",
                          SMALL + ["seeds=[0]", "data.n_train=20", "data.n_test=20", "protocol.eval_every=10",
                                   "network.layers.exc.n_per_class=2"]),
}


def case_config(name: str) -> tuple[dict, str]:
    from bioplastic.config import load_config, variant_config
    path, variant, overrides = CASES[name]
    config = load_config(ROOT / "experiments" / path, overrides)
    return variant_config(config, variant), variant


def _final_weights(arrays) -> np.ndarray:
    """[seed, pre, post] at the last snapshot, of the projection the study reads out (the run's
    ``weights.nc`` Dataset, as the study returns it)."""
    return np.asarray(arrays[arrays.attrs["readout_projection"]].isel(snapshot=-1))


def run_case(name: str) -> dict:
    """Final weights and accuracy curves of one case, as arrays."""
    config, variant = case_config(name)
    study = config["study"]
    if study in ("supervised", "neuron_models"):
        from bioplastic.studies.supervised import train_and_test
        r = train_and_test((config, variant, list(config["data"]["classes"])))
        return {"accuracy": np.asarray(r["accuracy"]), "final_weights": _final_weights(r["arrays"])}
    if study == "pruning":
        from bioplastic.studies.pruning import train_and_probe
        r = train_and_probe((config, variant))
        return {"accuracy": np.asarray(r["accuracy"]), "final_weights": _final_weights(r["arrays"]),
                **{f"counts_{k}": np.asarray(v) for k, v in r["counts"].items()}}
    if study == "forgetting":
        from bioplastic.studies.forgetting import run_variant
        r = run_variant((config, variant))
        return {key: np.asarray(r[key]) for key in ("task1_digits", "curve_digits", "curve_letters")}
    raise ValueError(f"no regression runner for study {study!r}")


def main(names: list[str]) -> None:
    FIXTURE_DIR.mkdir(parents=True, exist_ok=True)
    for name in names or list(CASES):
        arrays = run_case(name)
        path = FIXTURE_DIR / f"{name}.npz"
        np.savez_compressed(path, **arrays)
        print(f"{name}: {', '.join(f'{k}{np.shape(v)}' for k, v in arrays.items())} -> {path}", flush=True)


if __name__ == "__main__":
    import sys
    main(sys.argv[1:])
