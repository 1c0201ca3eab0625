"""Results as data: `bioplastic plot DIR` redraws a run's figures from its folder alone, and
`bioplastic report DIR ...` writes its Markdown tables from the same files."""
import json
import re

import pytest

from bioplastic import cli
from bioplastic.studies import STUDIES, study_module

from test_cli import EXPERIMENT, TINY, bar_digits  # noqa: F401 (a fixture)


def _run_supervised(root):
    out = root / "run"
    assert cli.main(["run", EXPERIMENT, *TINY, "--out", str(out)]) == 0
    return out


def test_plot_restores_the_figures_of_a_run_folder(bar_digits, capsys):
    out = _run_supervised(bar_digits)
    figures = {p.name: p.read_bytes() for p in out.glob("*.png")}
    assert sorted(figures) == ["learning_curve.png", "weights_adaptive_threshold.png",
                               "weights_no_adaptive_threshold.png"]
    for name in figures:
        (out / name).unlink()
    capsys.readouterr()
    assert cli.main(["plot", str(out)]) == 0
    printed = capsys.readouterr()
    for name, drawn_by_the_run in figures.items():
        assert (out / name).read_bytes() == drawn_by_the_run          # the same code drew both
        assert name in printed.out
    assert "note:" not in printed.err
    # A folder written before weights.nc: the other figures, and a note.
    (out / "weights.nc").unlink()
    assert cli.main(["plot", str(out)]) == 0
    printed = capsys.readouterr()
    assert "note: the weight figures are not drawn: weights.nc is missing" in printed.err
    assert "learning_curve.png" in printed.out and "weights_adaptive_threshold.png" not in printed.out


def test_report_tabulates_the_numbers_of_metrics_json(bar_digits, capsys, tmp_path):
    out = _run_supervised(bar_digits)
    metrics = json.loads((out / "metrics.json").read_text())
    capsys.readouterr()
    assert cli.main(["report", str(out)]) == 0
    text = capsys.readouterr().out
    assert "Classes 0, 1, 2, training to 24 images, 2 seeds" in text
    assert ("| variant | after 12 images | after 24 | over the curve (12…24), mean ± std | lowest point per seed |"
            in text)
    for name, v in metrics["variants"].items():
        row = next(line for line in text.splitlines() if line.startswith(f"| {name.replace('_', ' ')} |"))
        numbers = [float(x) for x in re.findall(r"-?\d+\.\d", row)]
        curves = list(v["class_sets"][0]["accuracy_per_seed"].values())
        expected = [v["accuracy_mean"][1], v["accuracy_std"][1], v["accuracy_mean"][2], v["accuracy_std"][2],
                    *v["mean_over_curve_and_seeds"], *(min(c[1:]) for c in curves)]
        assert numbers == [round(x, 1) for x in expected], row
    assert cli.main(["report", str(out), "--out", str(tmp_path / "tables.md")]) == 0
    assert (tmp_path / "tables.md").read_text() == text


def test_unfinished_or_foreign_folders_are_refused(tmp_path, capsys):
    partial = tmp_path / "run.partial"
    partial.mkdir()
    (partial / "config.yaml").write_text("study: supervised\n")
    assert cli.main(["plot", str(partial)]) == 2
    assert "unfinished run" in capsys.readouterr().err
    assert cli.main(["plot", str(tmp_path / "run")]) == 2          # the finished name: its .partial is named
    assert "run.partial exists" in capsys.readouterr().err
    done = tmp_path / "done"
    done.mkdir()
    assert cli.main(["report", str(done)]) == 2
    assert "no config.yaml" in capsys.readouterr().err
    (done / "config.yaml").write_text("study: supervised\n")
    assert cli.main(["plot", str(done)]) == 2
    assert "no metrics.json" in capsys.readouterr().err


def test_forgetting_conv_figure_and_table_from_a_hand_made_metrics_json(tmp_path, capsys):
    """No training: a metrics.json written by hand is drawn and tabulated."""
    from bioplastic.results import write_json

    curve = {"mean": [10.0, 50.0, 60.0], "std": [1.0, 2.0, 3.0]}
    row = {"radii": [0, 0], "task1_digits": [90.0, 1.0], "task2_letters": [80.0, 2.0], "task2_digits": [40.0, 3.0],
           "forgetting": [50.0, 2.5], "letters_curve": curve, "digits_curve": curve, "reference": None}
    metrics = {"seeds": [0, 1], "epochs": [0, 1, 2], "task1_state": "best", "n_train": [3000, 3000],
               "task2": {"r0_0": row, "r3_1": dict(row, radii=[3, 1]), "freeze": dict(row, radii=[3, 1])}}
    (tmp_path / "config.yaml").write_text("study: forgetting_conv\ntitle: hand-made\n")
    write_json(tmp_path / "metrics.json", metrics)
    assert cli.main(["plot", str(tmp_path)]) == 0
    assert (tmp_path / "forgetting_conv.png").stat().st_size > 0
    assert cli.main(["report", str(tmp_path)]) == 0
    text = capsys.readouterr().out
    assert "| r3_1 | 3, 1 | 90.0 ± 1.0 | 80.0 ± 2.0 | 40.0 ± 3.0 | 50.0 ± 2.5 |" in text
    assert "over seeds [0, 1]" in text


def test_conv_stdp_figures_and_tables_from_hand_made_files(tmp_path, capsys):
    """accuracy_over_epochs.png from metrics.json, encoding.png from encoding.npz; no data, no training."""
    import numpy as np

    from bioplastic.results import write_json

    run = tmp_path / "conv"
    run.mkdir()
    curves = {"0": [60.0, 70.0, 80.0], "1": [62.0, 74.0, 78.0]}
    metrics = {"epochs": [1, 2, 3], "seeds": [0, 1], "n_train": 1500, "n_test": 300, "n_classes": 10,
               "test_accuracy_per_seed": {s: {"epoch": [1, 2, 3], "test_accuracy": c} for s, c in curves.items()},
               "test_accuracy_mean": [61.0, 72.0, 79.0], "test_accuracy_std": [1.0, 2.0, 1.0],
               "final_mean_std": [79.0, 1.0], "best_mean_std": [79.0, 1.0],
               "stdp": {"0": {"s1": {"images": 1500}, "s2": {"images": 3000}}}}
    (run / "config.yaml").write_text("study: conv_stdp\ndata: {classes: [0, 1]}\n"
                                     "conv: {epochs: {s1: 1, s2: 2, s3: 3}}\n")
    write_json(run / "metrics.json", metrics)
    latency = np.full((2, 6, 28, 28), -1)
    latency[:, :, 10:18, 10:18] = 3
    np.savez_compressed(run / "encoding.npz", images=np.zeros((2, 28, 28), np.uint8), latency=latency,
                        n_steps=np.array(15), map_names=np.array([f"map {m}" for m in range(6)]))
    assert cli.main(["plot", str(run)]) == 0
    for name in ("accuracy_over_epochs.png", "encoding.png"):
        assert (run / name).stat().st_size > 0
    assert not (run / "kernels_s1.png").exists()            # no weights.nc, no network: no kernel figure
    # With the trained kernels (weights.nc) and the network they belong to: the first layer's features.
    from bioplastic import netcdf
    kernels = np.random.default_rng(0).random((2, 4, 6, 5, 5))         # seeds, maps, on/off x 3 scales, 5 x 5
    netcdf.write(run / "weights.nc", netcdf.kernel_dataset({"s1": kernels}, [0, 1]), study="conv_stdp")
    with open(run / "config.yaml", "a") as config:
        config.write("network: {projections: {input_to_s1: {source: input, target: s1, connectivity: conv}}}\n")
    assert cli.main(["plot", str(run)]) == 0
    assert (run / "kernels_s1.png").stat().st_size > 0
    assert cli.main(["report", str(run)]) == 0
    text = capsys.readouterr().out
    assert "| 1 | 1,500 / 300 | s1: 1 x 1,500, s2: 2 x 1,500 | 3 | 2 | 79.0 ± 1.0 % | 79.0 ± 1.0 % |" in text
    assert "| 2 | 72.0 ± 2.0 % | 70.0 % | 74.0 % |" in text              # the mean, then each seed's curve


def test_neuron_models_figures_are_redrawn_from_the_saved_traces(tmp_path, capsys):
    from test_neuron_models_study import EXPERIMENT as NEURON_MODELS, TINY as SMALL

    out = tmp_path / "run"
    assert cli.main(["run", NEURON_MODELS, *SMALL, "--out", str(out)]) == 0
    figures = {p.name: p.read_bytes() for p in out.glob("*.png")}
    assert sorted(figures) == ["fi_curves.png", "step_and_fi_izhikevich.png", "step_and_fi_lif.png"]
    for name in figures:
        (out / name).unlink()
    assert cli.main(["plot", str(out)]) == 0
    for name, drawn_by_the_run in figures.items():
        assert (out / name).read_bytes() == drawn_by_the_run
    assert cli.main(["report", str(out)]) == 0
    assert "| lif | " in capsys.readouterr().out


@pytest.mark.parametrize("study", sorted(STUDIES))
def test_every_study_can_draw_and_tabulate_a_run_folder(study):
    module = study_module(study)
    assert callable(module.plot) and callable(module.report)


def test_a_sweep_point_is_a_run_folder_and_the_sweep_folder_is_refused(bar_digits, capsys):
    out = bar_digits / "sweep"
    assert cli.main(["sweep", EXPERIMENT, *TINY, "seeds=[0]", "--out", str(out), "--no-progress",
                     "--grid", "data.n_train=12"]) == 0
    point = out / "points" / "p000-s0"
    (point / "learning_curve.png").unlink()
    assert cli.main(["plot", str(point)]) == 0
    assert (point / "learning_curve.png").stat().st_size > 0
    capsys.readouterr()
    assert cli.main(["report", str(out)]) == 2
    assert "is a sweep folder" in capsys.readouterr().err


def test_accuracy_over_many_decision_epochs_has_an_inset_on_the_late_epochs_own_scale(tmp_path):
    """Late gains of tenths of a point are invisible on 0-100 %: from 8 epochs on, an inset shows
    the last three quarters of the epochs, every seed inside its y range, much narrower than 0-100."""
    import numpy as np

    from bioplastic import plotting

    epochs = np.arange(1, 41)
    seeds = {"0": 95 - 10 / epochs, "1": 94.8 - 10 / epochs}
    metrics = {"epochs": epochs.tolist(), "seeds": [0, 1], "n_classes": 10,
               "test_accuracy_per_seed": {s: {"test_accuracy": c.tolist()} for s, c in seeds.items()},
               "test_accuracy_mean": ((seeds["0"] + seeds["1"]) / 2).tolist(),
               "test_accuracy_std": (np.abs(seeds["0"] - seeds["1"]) / 2).tolist()}
    fig = plotting.decision_epochs(metrics, tmp_path / "acc.png")
    assert (tmp_path / "acc.png").stat().st_size > 0
    main = fig.axes[0]
    inset, = main.child_axes
    low, high = inset.get_ylim()
    late = [c[10:] for c in seeds.values()]                    # epochs 11-40: the last three quarters
    assert low <= min(c.min() for c in late) and max(c.max() for c in late) <= high
    assert high - low < 5 and main.get_ylim() == (0, 100)
    assert inset.get_xlim()[0] > 10 - 1                        # starts at the late epochs, not at epoch 1
    short = {**metrics, "epochs": [1, 2, 3]}
    short["test_accuracy_per_seed"] = {s: {"test_accuracy": c[:3].tolist()} for s, c in seeds.items()}
    short["test_accuracy_mean"], short["test_accuracy_std"] = metrics["test_accuracy_mean"][:3], [0.0] * 3
    assert not plotting.decision_epochs(short, tmp_path / "short.png").axes[0].child_axes


def test_forgetting_conv_figure_names_variants_as_readers_write_them(tmp_path):
    """Legends say r = (5, 2), freezing, Langevin D10–D90; the protection panels show the
    unprotected variant at the radii the protections start from."""
    from bioplastic import plotting

    assert plotting.variant_label("r5_2") == "r = (5, 2)"
    assert plotting.variant_label("langevin_d10_d90") == "Langevin D10–D90"
    assert plotting.variant_label("freeze") == "freezing"
    curve = {"mean": [10.0, 50.0], "std": [0.0, 0.0]}
    row = {"radii": [5, 2], "task1_digits": [90.0, 0.0], "letters_curve": curve, "digits_curve": curve}
    table = {"r0_0": dict(row, radii=[0, 0]), "r5_2": row, "freeze": row, "langevin_q1_q3": row}
    fig = plotting.task2_panels({"task2": table, "epochs": [0, 1]}, tmp_path / "f.png")
    legends = [[t.get_text() for t in ax.get_legend().get_texts()] for ax in fig.axes]
    assert [ax.get_title() for ax in fig.axes] == ["(a) no protection", "(b) lateral inhibition", "(c) freezing",
                                                   "(d) Langevin ranges"]
    assert legends[0][0] == "r = (0, 0)" and legends[1][0] == "r = (5, 2)"
    assert legends[2][:2] == ["r = (5, 2), unprotected", "freezing at r = (5, 2)"]
    assert legends[3][:2] == ["r = (5, 2), unprotected", "Langevin Q1–Q3 at r = (5, 2)"]
    assert legends[3][-2:] == ["letters (task 2)", "digits (task 1)"]
