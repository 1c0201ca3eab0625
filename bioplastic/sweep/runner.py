"""Resumable sweeps: every point x seed is one Dask task that writes its own result folder
atomically; the sweep directory keeps an index of the tasks and their status.

Layout of a sweep directory::

    sweep.json        what was swept (command, config, points, seeds), versions, and every run of it
    config.yaml       the resolved base config
    index.json        status of every task: pending / running / done / failed (with the traceback)
    executions.log    one line per task started: task, host, pid, job id, time
    points/p003-s1/   one finished task: config.yaml, provenance.json, result.json, summary.md, the study's output
    results.csv, results.parquet, summary.txt, sweep_line.png, sweep_heatmap.png

A task's folder is written as ``points/<task>.<host>.<pid>.partial`` and renamed when complete,
so a folder without ``.partial`` is a finished point, whatever happened to the process that
wrote it. Rerunning the same command (or ``--resume DIR``) runs only the tasks without one.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import socket
import sys
import time
import traceback
import uuid
from dataclasses import dataclass, field
from datetime import datetime, UTC
from pathlib import Path

import yaml

from bioplastic.config import dump, load_config
from bioplastic.errors import ConfigError
from bioplastic.data import data_file_records, recording_data_files
from bioplastic.results import one_writer, to_jsonable, versions, write_json, write_summary
from bioplastic.sweep import TaskError, _portable
from bioplastic.sweep import clusters, points as sweep_points, table as sweep_table

# Keys that say where a sweep runs, not what it computes: a sweep resumes elsewhere with other values.
PLACEMENT_KEYS = ("workers", "scheduler", "cluster", "sweep", "quick")
JOB_ID_VARIABLES = ("SLURM_JOB_ID", "PBS_JOBID", "JOB_ID", "LSB_JOBID", "OAR_JOB_ID")


@dataclass
class Plan:
    """Everything a sweep computes, checked: the base config, the points, the seeds."""
    config: dict
    points: list[dict]
    seeds: list
    keys: list[str]
    metric: str | None = None
    source: str = ""
    command: list[str] = field(default_factory=lambda: list(sys.argv))

    @property
    def identity(self) -> str:
        base = {k: v for k, v in self.config.items() if k not in PLACEMENT_KEYS and k != "seeds"}
        text = json.dumps([base, self.points, self.seeds], sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:12]

    def task_config(self, point: dict, seed) -> dict:
        config = sweep_points.resolve(self.config, {**point, "seeds": [seed]})
        config.update(workers=1, scheduler=None)          # the task itself runs in its worker
        return config

    def tasks(self, sweep_dir: Path) -> list[dict]:
        return [{"task_id": f"p{i:03d}-s{seed}", "point": i, "seed": seed, "overrides": point,
                 "config": self.task_config(point, seed), "sweep_dir": str(sweep_dir), "command": self.command}
                for i, point in enumerate(self.points) for seed in self.seeds]


def plan_sweep(config_path: str, overrides: list[str] | None = None, *, grid: dict | None = None,
               zipped: dict | None = None, sample: dict | None = None, samples: int | None = None,
               sample_seed: int | None = None, quick: bool = False, device: str | None = None,
               metric: str | None = None) -> Plan:
    """Read the config and the sweep (YAML ``sweep:`` section and command line), check every point."""
    config = load_config(config_path, [*(overrides or []), *([f"device.name={device}"] if device else [])],
                         quick=quick)
    section = dict(config["sweep"])
    section["grid"] = {**(section.get("grid") or {}), **(grid or {})}
    section["zip"] = {**(section.get("zip") or {}), **(zipped or {})}
    section["sample"] = {**(section.get("sample") or {}), **(sample or {})}
    if samples is not None:
        section["samples"] = samples
    if sample_seed is not None:
        section["sample_seed"] = sample_seed
    seeds = list(config["seeds"])
    if "seeds" in section["grid"]:          # --grid seeds=0,1,2 is the seeds of every point
        seeds = [value for value in section["grid"].pop("seeds")]
    if not seeds or not all(isinstance(s, int) and not isinstance(s, bool) for s in seeds):
        raise ConfigError(f"seeds must be a non-empty list of integers, got {seeds!r}.")
    if len(set(seeds)) != len(seeds):
        raise ConfigError(f"seeds {seeds!r} repeat a seed: the same point would be computed twice.")
    points = sweep_points.expand(section)
    config["seeds"] = seeds
    plan = Plan(config, points, seeds, keys=list(points[0]), metric=metric or section.get("metric"),
                source=str(config_path))
    check(plan)
    return plan


def check(plan: Plan) -> None:
    """Resolve the config of every point before anything runs: a bad value in point 37 stops point 1."""
    from bioplastic.studies import study_module
    study = study_module(plan.config["study"])
    study_check = getattr(study, "check", None)          # optional: a study's own checks of a config
    for i, point in enumerate(plan.points):
        try:
            config = plan.task_config(point, plan.seeds[0])
            if study_check:
                study_check(config)
        except ConfigError as exc:
            where = ", ".join(f"{k}={v}" for k, v in point.items())
            raise ConfigError(f"sweep point {i} ({where}): {exc}") from None


def default_sweep_dir(plan: Plan) -> Path:
    """The same command gives the same directory: rerunning it resumes."""
    return Path("results") / "sweeps" / f"{Path(plan.source).stem}-{plan.identity}"


def load_plan(sweep_dir: Path) -> Plan:
    """The plan stored in a sweep directory (``--resume DIR``)."""
    path = Path(sweep_dir) / "sweep.json"
    if not path.exists():
        raise ConfigError(f"{str(sweep_dir)!r} is not a sweep directory (it has no sweep.json).")
    stored = json.loads(path.read_text())
    config = yaml.safe_load((Path(sweep_dir) / "config.yaml").read_text())
    plan = Plan(config, stored["points"], stored["seeds"], stored["keys"], stored.get("metric"), stored["source"])
    check(plan)
    return plan


# ---------------------------------------------------------------- one task, on a worker


def job_id() -> str | None:
    return next((os.environ[v] for v in JOB_ID_VARIABLES if os.environ.get(v)), None)


def execute(task: dict) -> dict:
    """Run one point x seed of the study into its own folder, atomically; return its result."""
    from bioplastic.studies import study_module

    points_dir = Path(task["sweep_dir"]) / "points"
    final = points_dir / task["task_id"]
    if (final / "result.json").exists():                 # an earlier attempt finished it
        return json.loads((final / "result.json").read_text())
    host, pid, job = socket.gethostname(), os.getpid(), job_id()
    partial = points_dir / f"{task['task_id']}.{host}.{pid}.partial"
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    started = time.time()
    with open(Path(task["sweep_dir"]) / "executions.log", "a") as log:
        log.write(f"{task['task_id']} host={host} pid={pid} job={job or '-'} "
                  f"started={datetime.now(UTC).isoformat()}\n")
    (partial / "config.yaml").write_text(dump(task["config"]))
    provenance = {"task": task["task_id"], "point": task["point"], "seed": task["seed"],
                  "overrides": task["overrides"], "command": task["command"], "host": host, "pid": pid,
                  "job_id": job, "started": datetime.now(UTC).isoformat(), "versions": versions()}
    write_json(partial / "provenance.json", dict(provenance, status="running"))
    study = study_module(task["config"]["study"])
    with recording_data_files() as read:
        metrics = study.run(task["config"], partial)
    write_summary(partial, study, metrics, title=f"{task['config'].get('title') or task['config']['study']}: "
                                                 f"{task['task_id']}", command=task["command"])
    wall = round(time.time() - started, 2)
    provenance.update(status="complete", finished=datetime.now(UTC).isoformat(), wall_time_s=wall,
                      data_files=data_file_records(read))
    write_json(partial / "provenance.json", provenance)
    result = {"task_id": task["task_id"], "point": task["point"], "seed": task["seed"],
              "overrides": task["overrides"], "host": host, "job_id": job, "wall_time_s": wall,
              "metrics": sweep_table.flatten_metrics(to_jsonable(metrics))}
    write_json(partial / "result.json", result)
    try:
        os.rename(partial, final)
    except OSError:                                       # another attempt finished first: keep that one
        shutil.rmtree(partial, ignore_errors=True)
    return json.loads((final / "result.json").read_text())


# ---------------------------------------------------------------- the sweep, in the main process


class SweepDirectory:
    def __init__(self, path: Path, plan: Plan):
        self.path, self.plan = Path(path), plan
        self.points = self.path / "points"

    def open(self) -> None:
        """Create it, or check that it holds this very sweep."""
        stored = self.path / "sweep.json"
        if stored.exists():
            identity = json.loads(stored.read_text()).get("identity")
            if identity != self.plan.identity:
                raise ConfigError(f"{str(self.path)!r} holds another sweep (other config, points or seeds). "
                                  "Choose another --out, or --resume it with its own settings.")
        else:
            self.path.mkdir(parents=True, exist_ok=True)
            (self.path / "config.yaml").write_text(dump(self.plan.config))
            write_json(stored, {"identity": self.plan.identity, "source": self.plan.source,
                                "command": self.plan.command, "keys": self.plan.keys, "points": self.plan.points,
                                "seeds": self.plan.seeds, "metric": self.plan.metric,
                                "sweep": self.plan.config.get("sweep"), "versions": versions(),
                                "created": datetime.now(UTC).isoformat(), "runs": []})
        self.points.mkdir(exist_ok=True)
        for stale in self.points.glob("*.partial"):       # left by a killed run; its task reruns
            shutil.rmtree(stale, ignore_errors=True)

    def done(self) -> dict[str, dict]:
        out = {}
        for result in self.points.glob("*/result.json"):
            if not result.parent.name.endswith(".partial"):
                out[result.parent.name] = json.loads(result.read_text())
        return out

    def running(self) -> set[str]:
        return {p.name.split(".", 1)[0] for p in self.points.glob("*.partial")}

    def write_index(self, tasks: list[dict], status: dict[str, dict]) -> None:
        counts = {}
        for entry in status.values():
            counts[entry["status"]] = counts.get(entry["status"], 0) + 1
        index = {"identity": self.plan.identity, "updated": datetime.now(UTC).isoformat(),
                 "counts": counts,
                 "tasks": {t["task_id"]: {"point": t["point"], "seed": t["seed"], "overrides": t["overrides"],
                                          **status[t["task_id"]]} for t in tasks}}
        tmp = self.path / f".index.{os.getpid()}.tmp"
        write_json(tmp, index)
        os.replace(tmp, self.path / "index.json")

    def record_run(self, run: dict) -> None:
        path = self.path / "sweep.json"
        stored = json.loads(path.read_text())
        stored["runs"].append(run)
        tmp = self.path / f".sweep.{os.getpid()}.tmp"
        write_json(tmp, stored)
        os.replace(tmp, path)


@dataclass
class Outcome:
    directory: Path
    n_tasks: int
    done: int
    failed: dict[str, str]
    executed: int
    wall_time_s: float
    table: list[dict]
    metric: str | None
    summary: str
    files: list[Path]


def run_sweep(plan: Plan, sweep_dir: Path, **options) -> Outcome:
    """Run the tasks of ``plan`` not finished in ``sweep_dir``; write the table and plots
    (:func:`_run_sweep`), one process at a time (``<sweep_dir>.lock``: a second sweep would
    remove the first one's running task folders as stale)."""
    with one_writer(Path(sweep_dir)):
        return _run_sweep(plan, sweep_dir, **options)


def _run_sweep(plan: Plan, sweep_dir: Path, *, workers: int = 1, scheduler: str | None = None,
               cluster: dict | None = None, progress: bool = True) -> Outcome:
    from tqdm.auto import tqdm

    directory = SweepDirectory(sweep_dir, plan)
    directory.open()
    tasks = plan.tasks(directory.path)
    finished = directory.done()
    status = {t["task_id"]: ({"status": "done", **_where(finished[t["task_id"]])} if t["task_id"] in finished
                             else {"status": "pending"}) for t in tasks}
    todo = [t for t in tasks if t["task_id"] not in finished]
    where = clusters.describe(workers=workers, scheduler=scheduler, cluster=cluster or {})
    started, executed, interrupted = time.time(), 0, False
    directory.write_index(tasks, status)
    bar = tqdm(total=len(tasks), initial=len(tasks) - len(todo), desc="sweep", unit="task", disable=not progress,
               dynamic_ncols=True)

    def show():
        counts = {s: sum(1 for e in status.values() if e["status"] == s) for s in ("running", "failed")}
        bar.set_postfix_str(f"running {counts['running']}, failed {counts['failed']}", refresh=True)

    def settle(task, result=None, error=None):
        nonlocal executed
        executed += 1
        if error is None:
            status[task["task_id"]] = {"status": "done", **_where(result)}
            bar.update(1)
        else:
            status[task["task_id"]] = {"status": "failed", "error": error}
        directory.write_index(tasks, status)
        show()

    interrupt = _Interrupt()
    try:
        with clusters.dask_client(workers=workers, scheduler=scheduler, cluster=cluster, n_tasks=len(todo),
                                  start=bool(todo)) as client:
            if client is None:
                for task in todo:
                    interrupt.check()
                    status[task["task_id"]] = {"status": "running"}
                    directory.write_index(tasks, status)
                    show()
                    try:
                        settle(task, result=execute(task))
                    except Exception as exc:
                        settle(task, error=f"{exc!r}\n{traceback.format_exc()}")
            else:
                token = uuid.uuid4().hex[:8]
                remaining = {client.submit(_portable(execute), task, key=f"bioplastic-{task['task_id']}-{token}",
                                           pure=False): task for task in todo}
                while remaining:
                    interrupt.check()
                    ready = [f for f in remaining if f.done()]
                    for future in ready:
                        task = remaining.pop(future)
                        if future.status == "finished":
                            settle(task, result=future.result())
                        else:
                            try:
                                exc = future.exception()
                            except Exception as cancelled:        # e.g. the scheduler went away
                                exc = cancelled
                            settle(task, error=str(exc) if isinstance(exc, TaskError) else repr(exc))
                    running = directory.running()
                    changed = False
                    for task in remaining.values():
                        new = "running" if task["task_id"] in running else "pending"
                        if status[task["task_id"]]["status"] != new:
                            status[task["task_id"]] = {"status": new}
                            changed = True
                    if changed:
                        directory.write_index(tasks, status)
                        show()
                    if not ready:
                        time.sleep(0.5)
    except KeyboardInterrupt:
        interrupted = True
        raise
    finally:
        interrupt.restore()
        bar.close()
        for task in tasks:                                 # what did not finish waits for the next run
            if status[task["task_id"]]["status"] == "running":
                status[task["task_id"]] = {"status": "pending"}
        directory.write_index(tasks, status)
        outcome = _report(directory, plan, tasks, status, executed, time.time() - started)
        directory.record_run({"command": plan.command, "host": socket.gethostname(), "where": where,
                              "started": datetime.fromtimestamp(started, UTC).isoformat(),
                              "wall_time_s": round(outcome.wall_time_s, 2), "executed": executed,
                              "done": outcome.done, "failed": len(outcome.failed), "interrupted": interrupted})
    return outcome


class _Interrupt:
    """Ctrl-C stops the sweep even when the KeyboardInterrupt lands where Python ignores it (a
    weakref callback inside Brian2): the request is remembered and checked between tasks."""

    def __init__(self):
        self.requested = False
        self.previous = None
        import threading
        if threading.current_thread() is threading.main_thread():
            self.previous = signal.signal(signal.SIGINT, self._handle)

    def _handle(self, signum, frame):
        self.requested = True
        raise KeyboardInterrupt

    def check(self):
        if self.requested:
            raise KeyboardInterrupt

    def restore(self):
        if self.previous is not None:
            signal.signal(signal.SIGINT, self.previous)


def _where(result: dict) -> dict:
    return {"host": result.get("host"), "job_id": result.get("job_id"), "wall_time_s": result.get("wall_time_s")}


def _report(directory: SweepDirectory, plan: Plan, tasks, status, executed, wall) -> Outcome:
    """Table, summary and plots of every finished task (also after an interruption)."""
    done = directory.done()
    for stale in directory.points.glob("*.partial"):      # an attempt whose task finished elsewhere
        if stale.name.split(".", 1)[0] in done:
            shutil.rmtree(stale, ignore_errors=True)
    results = [r for task_id, r in done.items() if task_id in status]
    keys = plan.keys
    rows = sweep_table.rows(results, keys)
    files, summary = [], ""
    metric = plan.metric or sweep_table.default_metric(rows)
    if rows:
        files += sweep_table.write(rows, keys, directory.path)
        summary = sweep_table.summary_text(rows, keys, metric)
        (directory.path / "summary.txt").write_text(summary + "\n")
        files.append(directory.path / "summary.txt")
        if sweep_table.metric_values(rows, metric):
            files.append(sweep_table.line_plot(rows, keys, metric, directory.path / "sweep_line.png"))
            if len(keys) == 2:
                files.append(sweep_table.heatmap(rows, keys, metric, directory.path / "sweep_heatmap.png"))
    failed = {t: s["error"] for t, s in status.items() if s["status"] == "failed"}
    return Outcome(directory.path, len(tasks), sum(1 for s in status.values() if s["status"] == "done"), failed,
                   executed, wall, rows, metric, summary, files)
