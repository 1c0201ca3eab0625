"""Results as data: `bioplastic plot DIR` redraws a run's figures from its folder alone, and
`bioplastic report DIR ...` writes its Markdown tables from the same files."""
import json
import re

from bioplastic import cli

from test_cli import EXPERIMENT, TINY, bar_digits  # noqa: F401 (a fixture)


def _run_supervised(root):
    out = root / "run"
    assert cli.main(["run", EXPERIMENT, *TINY, "--out", str(out)]) == 0
    return out


def test_plot_restores_the_figures_of_a_run_folder(bar_digits, capsys):
    out = _run_supervised(bar_digits)
    figures = sorted(p.name for p in out.glob("*.png"))
    assert figures == ["learning_curve.png", "weights_adaptive_threshold.png", "weights_no_adaptive_threshold.png"]
    for name in figures:
        (out / name).unlink()
    capsys.readouterr()
    assert cli.main(["plot", str(out)]) == 0
    printed = capsys.readouterr()
    for name in figures:
        assert (out / name).stat().st_size > 0
        assert name in printed.out
    assert "note:" not in printed.err


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
