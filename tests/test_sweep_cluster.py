"""Sweeps killed and resumed, and sweeps on a real SLURM (`make test-sweep`, minutes).

A sweep killed mid-way (Ctrl-C, or SIGKILL to the whole process group with its Dask workers)
and rerun runs exactly the tasks without a result folder (counted in executions.log). On a
single-node SLURM started here (tests/slurm.py): the quick supervised study gives the same
table on 2 local workers and on SLURM jobs started by dask-jobqueue, and a worker job cancelled
with scancel loses no point (adapt() replaces the job, Dask reruns the task).
"""
import json
import os
import signal
import subprocess
import sys
import time

import pyarrow.parquet as pq
import pytest

from conftest import REPO
from slurm import SlurmUnavailable, local_slurm
from test_cli import EXPERIMENT, TINY, bar_digits  # noqa: F401  (bar_digits: synthetic MNIST fixture)
from test_sweep import executions, sweep_args

pytestmark = pytest.mark.sweep
ALL = {"p000-s0", "p000-s1", "p000-s2"}


def sweep_process(out, *args, grid=("seeds=0,1,2", "data.n_train=12")):
    command = [sys.executable, "-m", "bioplastic.cli", *sweep_args(out, *grid), *args]
    return subprocess.Popen(command, cwd=REPO, start_new_session=True, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def wait_for(condition, timeout=300, what="the condition"):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def finished(out) -> set:
    return {p.name for p in (out / "points").glob("p*") if not p.name.endswith(".partial")}


def stop(process):
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


@pytest.mark.parametrize("sig, args", [(signal.SIGINT, []), (signal.SIGKILL, ["--workers", "2"])],
                         ids=["SIGINT-in-process", "SIGKILL-2-workers"])
def test_killed_sweep_reruns_only_the_unfinished_points(bar_digits, sig, args):
    out = bar_digits / "sweep"
    process = sweep_process(out, *args)
    try:
        wait_for(lambda: (out / "points").is_dir() and finished(out) or process.poll() is not None,
                 what="a first finished point")
        os.killpg(process.pid, sig)
        _, err = process.communicate(timeout=120)
    finally:
        stop(process)
    kept = finished(out)
    assert kept and len(kept) < 3, err
    if sig == signal.SIGINT:
        assert process.returncode == 130 and "rerun the same command" in err
        assert json.loads((out / "index.json").read_text())["counts"] == {"done": len(kept), "pending": 3 - len(kept)}
    before = len(executions(out))
    rerun = sweep_process(out)
    _, err = rerun.communicate(timeout=600)
    assert rerun.returncode == 0, err
    assert sorted(executions(out)[before:]) == sorted(ALL - kept)
    assert json.loads((out / "index.json").read_text())["counts"] == {"done": 3}


@pytest.fixture(scope="module")
def slurm():
    try:
        with local_slurm() as cluster:
            previous = os.environ.get("SLURM_CONF")
            os.environ["SLURM_CONF"] = cluster.conf
            try:
                yield cluster
            finally:
                if previous is None:
                    os.environ.pop("SLURM_CONF", None)
                else:
                    os.environ["SLURM_CONF"] = previous
    except SlurmUnavailable as exc:
        pytest.skip(f"no SLURM here: {exc}")


def slurm_options(slurm, **extra):
    options = {"cluster.interface": "lo", "cluster.jobs": 2, "cluster.minimum_jobs": 2, "cluster.cores": 1,
               "cluster.memory": "2GB", "cluster.walltime": "00:30:00",
               "cluster.log_directory": str(slurm.root / "dask-logs"), **extra}
    return ["--cluster", "slurm", *[f"{k}={v}" for k, v in options.items()]]


QUICK = ["--quick", "device.name=runtime", "device.target=numpy", "data.n_test=40", "protocol.eval_every=20",
         "--grid", "seeds=0,1", "data.n_train=20,40", "data.classes=[0,1,2],[3,4,5]"]


def quick_sweep(out, *args):
    """The quick supervised study over 2 x 2 points x 2 seeds; returns (table, wall time in s)."""
    started = time.time()
    done = subprocess.run([sys.executable, "-m", "bioplastic.cli", "sweep", EXPERIMENT, *QUICK, "--out", str(out),
                           "--no-progress", *args], cwd=REPO, capture_output=True, text=True, timeout=1200)
    assert done.returncode == 0, done.stderr[-3000:]
    return pq.read_table(out / "results.parquet").to_pylist(), time.time() - started


def test_quick_study_gives_the_same_table_on_local_workers_and_on_slurm(real_data, slurm, tmp_path):
    local, local_s = quick_sweep(tmp_path / "local", "--workers", "2")
    on_slurm, slurm_s = quick_sweep(tmp_path / "slurm", *slurm_options(slurm))
    print(f"\n2 x 2 points x 2 seeds of the quick supervised study: {local_s:.0f} s on 2 local workers, "
          f"{slurm_s:.0f} s on SLURM (2 jobs)")

    def results(table):        # wall times differ between runs; everything else must not
        return sorted((r["task"], r["metric"], r["value"]) for r in table if "wall_time" not in r["metric"])
    assert results(local) == results(on_slurm)
    assert len({r["task"] for r in local}) == 8
    for directory in ("local", "slurm"):
        assert (tmp_path / directory / "sweep_heatmap.png").stat().st_size > 0
    index = json.loads((tmp_path / "slurm" / "index.json").read_text())
    assert index["counts"] == {"done": 8}
    assert all(task["job_id"] for task in index["tasks"].values())        # where each point ran
    assert all(task["job_id"] is None for task in
               json.loads((tmp_path / "local" / "index.json").read_text())["tasks"].values())
    final = [r for r in local if r["metric"] == "accuracy_mean[-1]" or r["metric"] == "accuracy_mean[2]"]
    assert final and sum(r["value"] for r in final) / len(final) > 50     # 3 classes: chance is 33 %


def test_a_cancelled_slurm_job_loses_no_point(bar_digits, slurm, monkeypatch):
    monkeypatch.setenv("DASK_DISTRIBUTED__DEPLOY__LOST_WORKER_TIMEOUT", "2s")
    out = bar_digits / "sweep"
    process = sweep_process(out, *slurm_options(slurm))
    try:
        def running_job():
            for provenance in (out / "points").glob("*.partial/provenance.json"):
                try:
                    entry = json.loads(provenance.read_text())
                except (OSError, ValueError):
                    continue
                if entry.get("job_id"):
                    return entry["task"], entry["job_id"]
        task, job = wait_for(lambda: (out / "points").is_dir() and running_job(), what="a task on a SLURM job")
        slurm.run("scancel", job)
        _, err = process.communicate(timeout=600)
    finally:
        stop(process)
    assert process.returncode == 0, err
    assert finished(out) == ALL
    assert executions(out).count(task) >= 2                       # started on the cancelled job, then again
    rerun_on = json.loads((out / "points" / task / "provenance.json").read_text())["job_id"]
    assert rerun_on != job
    assert json.loads((out / "index.json").read_text())["counts"] == {"done": 3}
