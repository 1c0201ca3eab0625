"""Tasks on Dask and parameter sweeps: results in order, failures with their traceback, points
from grids, zipped lists and seeded ranges, bad input refused before anything runs, and
nothing finished lost when a run or a sweep is interrupted and rerun. Killing sweep processes
(SIGINT, SIGKILL) and SLURM are tested in test_sweep_cluster.py (`make test-sweep`)."""
import json
import numpy as np
import pytest

from bioplastic import cli
from bioplastic.errors import ConfigError
from bioplastic.studies import supervised
from bioplastic.sweep import Node, TaskError, map_graph, map_tasks, points, runner, task_cache

from test_cli import EXPERIMENT, TINY, bar_digits  # noqa: F401  (bar_digits: synthetic MNIST fixture)


def square(x):
    return x * x


def fail(x):
    if x == 2:
        raise KeyError("boom")
    if x == 3:
        raise ConfigError("bad key")
    return x


def test_local_cluster_runs_tasks_in_order():
    assert map_tasks(square, [1, 2, 3], workers=2) == [1, 4, 9]


def test_worker_failure_is_reported_with_its_traceback():
    with pytest.raises(TaskError, match="KeyError"):
        map_tasks(fail, [1, 2], workers=2)
    with pytest.raises(ConfigError, match="bad key"):
        map_tasks(fail, [1, 3], workers=2)


def staged(task):
    """A stand-in for a stage task: fails if a task it reads from has not ended; notes when it ran."""
    import time
    folder, name, reads, seconds = task
    missing = [other for other in reads if not (folder / f"{other}.ended").exists()]
    assert not missing, f"{name} started before {missing} ended"
    started = time.time()
    time.sleep(seconds)
    (folder / f"{name}.ended").write_text(f"{started} {time.time()}")
    return name


def _graph(folder):
    names = ["slow", "fast", "after_fast", "after_slow", "after_both"]
    after = [(), (), (1,), (0,), (0, 2)]
    return [Node(staged, (folder, n, [names[j] for j in a], 4.0 if n == "slow" else 0.1), a)
            for n, a in zip(names, after)], names


def test_a_graph_task_starts_once_what_it_reads_has_ended_and_waits_for_nothing_else(tmp_path):
    """map_graph on 2 Dask workers: every task after the tasks it comes after (each checks their
    files), and the task after the fast one ends while the slow, unrelated one still runs (no
    barrier between stages); of the tasks ready at once, the higher priorities first; in this
    process, the given order; kept results reused."""
    nodes, names = _graph(tmp_path)
    seen = []
    assert map_graph(nodes, workers=2, on_result=lambda i, r: seen.append(r)) == names
    ended = {n: [float(t) for t in (tmp_path / f"{n}.ended").read_text().split()] for n in names}
    assert ended["after_fast"][1] < ended["slow"][1] and sorted(seen) == sorted(names)
    assert ended["after_both"][0] >= ended["slow"][1]
    for n in names:
        (tmp_path / f"{n}.ended").unlink()
    ranked = [Node(staged, (tmp_path, f"p{k}", [], 1.0), priority=k) for k in range(3)]
    assert map_graph(ranked, workers=2) == ["p0", "p1", "p2"]
    ended = {n: [float(t) for t in (tmp_path / f"{n}.ended").read_text().split()] for n in ("p0", "p1", "p2")}
    assert ended["p0"][0] >= min(ended["p1"][1], ended["p2"][1])     # the two higher priorities went first
    cache = tmp_path / "cache"
    with task_cache(cache):
        assert map_graph(nodes[:2]) == names[:2]            # in this process, in order
        seen.clear()
        assert map_graph(nodes, on_result=lambda i, r: seen.append(i)) == names
    assert seen == [0, 1, 2, 3, 4]                          # the kept two first, then the rest in order
    with pytest.raises(ValueError, match="listed before"):
        map_graph([Node(square, 2, (1,)), Node(square, 3)])
    with pytest.raises(ValueError, match="in a circle"):
        map_graph([Node(square, 2, (1,)), Node(square, 3, (0,))], workers=2)


def test_every_worker_runs_the_code_the_run_began_with_though_the_file_changes_during_the_run(tmp_path,
                                                                                             monkeypatch):
    """A module edited while a run goes on (here by its first task) does not reach the tasks after
    it, on either worker: both load the code when the run begins, not at their first task."""
    import sys
    module = tmp_path / "edited_during_run.py"
    source = """import time
VERSION = {version}


def first(task):
    from pathlib import Path
    Path(__file__).write_text(Path(__file__).read_text().replace("VERSION = 1", "VERSION = 2"))
    return VERSION


def later(task):
    time.sleep(0.5)                     # so that both workers take some of these
    return VERSION
"""
    module.write_text(source.format(version=1))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))                        # the workers' processes too
    import edited_during_run
    nodes = [Node(edited_during_run.first, 0), *[Node(edited_during_run.later, k, (0,)) for k in range(6)]]
    try:
        assert map_graph(nodes, workers=2) == [1] * 7
        assert "VERSION = 2" in module.read_text()
    finally:
        sys.modules.pop("edited_during_run", None)


CALLS = []


def counted_square(x):
    CALLS.append(x)
    if x == 3 and len(CALLS) == 3:
        raise KeyboardInterrupt           # the first run is interrupted at its third task
    return x * x


def test_interrupted_tasks_resume_from_the_task_cache(tmp_path):
    CALLS.clear()
    with task_cache(tmp_path), pytest.raises(KeyboardInterrupt):
        map_tasks(counted_square, [1, 2, 3, 4])
    with task_cache(tmp_path):
        assert map_tasks(counted_square, [1, 2, 3, 4]) == [1, 4, 9, 16]
    assert CALLS == [1, 2, 3, 3, 4]       # 1 and 2 were kept; 3 reran; 4 ran once


def test_grid_zip_and_samples_combine_as_a_product():
    section = {"grid": {"data.n_train": [100, 300], "protocol.image_duration": ["200 ms", "350 ms"]},
               "zip": {"a.x": [1, 2], "a.y": [10, 20]}}
    expanded = points.expand(section)
    assert len(expanded) == 2 * 2 * 2
    assert expanded[0] == {"data.n_train": 100, "protocol.image_duration": "200 ms", "a.x": 1, "a.y": 10}
    assert {(p["a.x"], p["a.y"]) for p in expanded} == {(1, 10), (2, 20)}      # zipped, not crossed
    ranges = {"lr": {"low": 1e-4, "high": 1e-2, "log": True}, "t": {"low": "100 ms", "high": "300 ms"}}
    first, again = points.sample_axis(ranges, 200, seed=7), points.sample_axis(ranges, 200, seed=7)
    assert first == again                                                       # seeded
    lr = np.array([p["lr"] for p in first])
    t = np.array([float(p["t"].split()[0]) for p in first])
    assert lr.min() >= 1e-4 and lr.max() <= 1e-2 and t.min() >= 100 and t.max() <= 300
    assert 0.4 < np.mean(np.log10(lr) < -3) < 0.6      # log-uniform: half the draws below the geometric mean
    assert all(p["t"].endswith(" ms") for p in first)


def test_command_line_values_split_on_top_level_commas():
    assert points.split_values("5,10,20") == [5, 10, 20]
    assert points.split_values("100 ms,350 ms") == ["100 ms", "350 ms"]
    assert points.split_values("[0,1,2],[3,4,5]") == [[0, 1, 2], [3, 4, 5]]
    assert points.split_values("1e-3,2.5e-3") == [0.001, 0.0025]


def sweep_args(out, *grid, extra=()):
    return ["sweep", EXPERIMENT, *TINY, *extra, "--out", str(out), "--no-progress", "--grid", *grid]


@pytest.mark.parametrize("grid, extra, message", [
    (["data.n_trian=12,24"], [], "unknown config key 'data.n_trian'. Did you mean 'data.n_train'?"),
    (["protocol.image_duration=100 ms,100 mV"], [], "'100 mV' has the wrong unit: expected a quantity in units of ms"),
    (["data.n_train=12,3 ms"], [], "'3 ms' has the wrong unit: expected a pure number"),
    (["data.n_train="], [], "sweep.grid.data.n_train has no values"),
    (["data.n_train=12"], ["--cluster", "slurmm"], "cluster.kind 'slurmm' is not a batch system dask-jobqueue "
                                                   "knows. Did you mean 'slurm'?"),
    (["data.n_train=12"], ["--cluster", "pbs", "cluster.memory=lots"], "cannot read 'lots' as an amount of memory"),
])
def test_bad_sweep_input_fails_before_any_task(bar_digits, monkeypatch, capsys, grid, extra, message):
    monkeypatch.setattr(runner, "execute", lambda task: pytest.fail("a task started"))
    out = bar_digits / "sweep"
    assert cli.main(sweep_args(out, *grid, extra=extra)) == 2
    assert message in capsys.readouterr().err
    assert not out.exists()


def test_a_bad_value_in_the_last_point_stops_the_first(bar_digits, monkeypatch, capsys):
    monkeypatch.setattr(runner, "execute", lambda task: pytest.fail("a task started"))
    assert cli.main(sweep_args(bar_digits / "sweep", "data.n_train=12,24,36", "protocol.rest_duration=0 ms,5 Hz")) == 2
    assert "sweep point 1 (data.n_train=12, protocol.rest_duration=5 Hz)" in capsys.readouterr().err


def test_empty_sweep_is_refused(bar_digits, capsys):
    assert cli.main(["sweep", EXPERIMENT, *TINY, "--out", str(bar_digits / "sweep")]) == 2
    assert "empty sweep: no points to run" in capsys.readouterr().err


def executions(sweep_dir) -> list[str]:
    log = sweep_dir / "executions.log"
    return [line.split()[0] for line in log.read_text().splitlines()] if log.exists() else []


def test_sweep_writes_table_plots_and_provenance_and_rerun_runs_nothing(bar_digits, capsys):
    out = bar_digits / "sweep"
    args = sweep_args(out, "seeds=0", "data.n_train=12,24", "data.classes=[0,1,2]")   # 2 tasks: seconds
    assert cli.main(args) == 0
    assert sorted(executions(out)) == ["p000-s0", "p001-s0"]
    import pyarrow.parquet as pq
    table = pq.read_table(out / "results.parquet").to_pylist()
    final = [r for r in table if r["metric"] == "accuracy_mean[2]"]            # 24 images: checkpoints 0, 12, 24
    assert {(r["data.n_train"], r["seed"]) for r in final} == {(24, 0)}
    assert all(r["value"] >= 90 for r in final)                               # bands are learnt
    assert (out / "results.csv").read_text().startswith("point,task,seed,data.n_train,data.classes,metric,value")
    for name in ("sweep_line.png", "sweep_heatmap.png", "summary.txt", "points/p001-s0/learning_curve.png"):
        assert (out / name).stat().st_size > 0
    index = json.loads((out / "index.json").read_text())
    assert index["counts"] == {"done": 2}
    assert index["tasks"]["p001-s0"]["overrides"] == {"data.n_train": 24, "data.classes": [0, 1, 2]}
    assert {r["data.classes"] for r in table} == {"[0, 1, 2]"}                  # a list value, as YAML text
    provenance = json.loads((out / "points" / "p001-s0" / "provenance.json").read_text())
    assert provenance["host"] and provenance["wall_time_s"] > 0 and provenance["versions"]["brian2"].startswith("2.10")
    assert "mnist/train-images-idx3-ubyte.gz" in {f["path"] for f in provenance["data_files"]}
    for name in ("metrics_long.csv", "metrics_long.parquet", "weights.nc", "summary.md"):   # a point is a run folder
        assert (out / "points" / "p001-s0" / name).stat().st_size > 0
    stored = json.loads((out / "sweep.json").read_text())
    assert stored["points"] == [{"data.n_train": 12, "data.classes": [0, 1, 2]},
                                {"data.n_train": 24, "data.classes": [0, 1, 2]}]
    assert stored["seeds"] == [0] and stored["runs"][0]["executed"] == 2 and "sweep" in stored["command"]
    assert "accuracy_mean[-1], mean ± std over seeds" in capsys.readouterr().out
    assert cli.main(args) == 0                                                 # the same command again
    assert len(executions(out)) == 2
    assert json.loads((out / "sweep.json").read_text())["runs"][1]["executed"] == 0
    assert cli.main(["sweep", "--resume", str(out), "--no-progress"]) == 0
    assert len(executions(out)) == 2


def test_a_directory_of_another_sweep_is_not_resumed(bar_digits, capsys):
    out = bar_digits / "sweep"
    assert cli.main(sweep_args(out, "data.n_train=12", extra=["--dry-run"])) == 0
    (out).mkdir()
    (out / "sweep.json").write_text(json.dumps({"identity": "another"}))
    assert cli.main(sweep_args(out, "data.n_train=12")) == 2
    assert "holds another sweep" in capsys.readouterr().err


def test_a_sweep_folder_another_process_writes_is_refused_before_anything_runs(bar_digits, capsys):
    """A second sweep would remove the first one's running task folders as stale."""
    from bioplastic.results import one_writer
    out = bar_digits / "sweep"
    with one_writer(out):          # as a sweep in another process holds it (flock: per open file)
        assert cli.main(sweep_args(out, "seeds=0", "data.n_train=12")) == 2
        assert "is being written by another bioplastic process now (pid " in capsys.readouterr().err
        assert not out.exists()
    assert not out.with_name("sweep.lock").exists()
    assert cli.main(sweep_args(out, "seeds=0", "data.n_train=12")) == 0


def test_interrupted_multi_variant_run_resumes_with_the_unfinished_variant(bar_digits, monkeypatch, capsys):
    real, ran = supervised.train_and_test, []

    def interrupted_at_the_second(task):
        ran.append(task[1])
        if len(ran) == 2:
            raise KeyboardInterrupt
        return real(task)
    monkeypatch.setattr(supervised, "train_and_test", interrupted_at_the_second)
    out = bar_digits / "run"
    assert cli.main(["run", EXPERIMENT, *TINY, "--out", str(out)]) == 130
    assert f"--out {out}" in capsys.readouterr().err and not out.exists()
    assert cli.main(["run", EXPERIMENT, *TINY, "--out", str(out)]) == 0
    assert ran == ["adaptive_threshold", "no_adaptive_threshold", "no_adaptive_threshold"]
    assert "resuming" in capsys.readouterr().out
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics["variants"]) == {"adaptive_threshold", "no_adaptive_threshold"}
    assert json.loads((out / "provenance.json").read_text())["resumed_tasks"] == 1
    assert not (out / ".tasks").exists()
