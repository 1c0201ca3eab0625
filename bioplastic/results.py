"""Run directories: every run writes its own folder with the resolved config, versions,
seed, the data files read (with their SHA-256), metrics and figures. A run is written to
``<out>.partial`` and renamed to ``<out>`` only when complete, so an interrupted run never
leaves a folder that looks finished.

Results are data: besides ``metrics.json`` each study writes :func:`write_metrics_long`'s tidy
table of every number it measured (one schema for all studies) and its arrays with named
dimensions (:mod:`bioplastic.netcdf`).

The tasks a study hands to :func:`bioplastic.sweep.map_tasks` (variants, class sets) keep
their results in ``<out>.partial/.tasks/`` as they finish: rerunning the same command with the
same ``--out`` resumes an interrupted run with the unfinished tasks only.
"""
from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
import time
from contextlib import contextmanager
from datetime import datetime, UTC
from importlib import metadata
from pathlib import Path

import numpy as np
import yaml

from bioplastic.config import dump
from bioplastic.data import data_file_records, recording_data_files
from bioplastic.errors import BioplasticError, ConfigError


def cpu() -> dict:
    """The processor and the vector instructions it has: float32 matrix products round by the
    kernel the BLAS picks for the processor, so a seed repeats its numbers to the bit on the same
    kind of processor, not necessarily on another (the likeliest reason why a seed's task 1 gave
    96.05 % in one session and 96.125 % in another, on the same code; the processor was not
    recorded then)."""
    model, flags = platform.processor() or platform.machine(), []
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = (part.strip() for part in line.partition(":"))
            if key == "model name":
                model = value
            elif key == "flags":
                flags = sorted(set(value.split()) & {"avx", "avx2", "fma", "avx512f", "avx512bw", "avx512_vnni",
                                                     "avx512_bf16", "amx_tile"})
                break
    except OSError:
        pass
    from threadpoolctl import threadpool_info           # the BLAS numpy loaded, and the kernel it picked

    blas = [" ".join(str(info[k]) for k in ("internal_api", "version", "architecture") if info.get(k))
            for info in threadpool_info() if info.get("user_api") == "blas"]
    return {"cpu": model, "cpu_count": os.cpu_count(), **({"cpu_flags": flags} if flags else {}),
            **({"blas": blas} if blas else {})}


def versions() -> dict:
    out = {"python": sys.version.split()[0], "platform": platform.platform(), **cpu()}
    for package in ("bioplastic", "brian2", "numpy", "scipy", "dask", "brian2cuda", "brian2genn"):
        try:
            out[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            pass
    try:
        here = Path(__file__).resolve().parent
        commit = subprocess.run(["git", "-C", str(here), "rev-parse", "HEAD"], capture_output=True, text=True,
                                timeout=5)
        if commit.returncode == 0:
            out["git_commit"] = commit.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        pass
    return out


def to_jsonable(value):
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return to_jsonable(value.tolist())
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating, float)):
        return None if not np.isfinite(value) else float(value)
    return value


def write_json(path: Path, data) -> None:
    """Atomic: the file is complete (the new content) or as it was; never half-written."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(to_jsonable(data), indent=2) + "\n")
    os.replace(tmp, path)


def write_arrays(path: Path, meta: dict, **arrays) -> None:
    """A stage or checkpoint file (.npz): ``meta`` (JSON) and named arrays, bool arrays bit-packed
    along their last axis. Atomic: complete or absent."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npz")
    packed = {k: (np.packbits(v, axis=-1) if v.dtype == bool else v) for k, v in arrays.items()}
    bits = {k: v.shape[-1] for k, v in arrays.items() if v.dtype == bool}
    np.savez(tmp, meta=np.array(json.dumps(to_jsonable({**meta, "bits": bits}))), **packed)
    os.replace(tmp, path)


def read_arrays(path: Path) -> tuple[dict, dict]:
    """(meta, arrays) of a file written by :func:`write_arrays`."""
    with np.load(path) as saved:
        meta = _meta(saved)
        bits = meta.pop("bits", {})
        arrays = {k: (np.unpackbits(saved[k], axis=-1, count=bits[k]).astype(bool) if k in bits else saved[k])
                  for k in saved.files if k != "meta"}
    return meta, arrays


def read_meta(path: Path) -> dict:
    """The ``meta`` of a file written by :func:`write_arrays`, none of its arrays read."""
    with np.load(path) as saved:
        meta = _meta(saved)
    meta.pop("bits", None)
    return meta


def _meta(saved) -> dict:
    return json.loads(str(saved["meta"]))


#: The columns of ``metrics_long.csv`` / ``metrics_long.parquet``, the same in every study: one row
#: per number measured, so that tables and figures can be made again with any tool (pandas,
#: R, a spreadsheet) without knowing a study's metrics.json. Empty cells: does not apply.
METRICS_LONG_COLUMNS = {
    "variant": "the study's variant (config `variants`), neuron model or inhibition radii compared",
    "class_set": "classes trained, e.g. '0,1,2'; or the test set measured: 'digits', 'letters', 'white_noise', ...",
    "seed": "seed of the network copy measured",
    "phase": "training phase the checkpoint counts in: 'task1', 'task2' (forgetting studies)",
    "checkpoint": "how far training had gone when measured, in checkpoint_unit",
    "checkpoint_unit": "'images' (training images seen), 'presentations' (with repeats) or 'epochs'",
    "metric": "what was measured, its unit in the name: test_accuracy_percent, silent_fraction, ...",
    "value": "the number",
}
_METRICS_LONG_TYPES = {"seed": "int64", "checkpoint": "int64", "value": "float64"}     # others: string


def metric_rows(metric: str, values, checkpoints=(None,), **labels) -> list[dict]:
    """Rows of :func:`write_metrics_long` for one curve (a value per checkpoint) or one number."""
    values = np.atleast_1d(np.asarray(values, dtype=float))
    if len(values) != len(checkpoints):
        raise ValueError(f"{metric}: {len(values)} values for {len(checkpoints)} checkpoints")
    return [{**labels, "checkpoint": None if c is None else int(c), "metric": metric, "value": float(v)}
            for c, v in zip(checkpoints, values)]


def write_metrics_long(out_dir: Path, rows: list[dict]) -> list[Path]:
    """``metrics_long.csv`` and ``metrics_long.parquet``: ``rows`` (dicts with keys of
    :data:`METRICS_LONG_COLUMNS`, missing ones empty) as one tidy table, both files the same."""
    import csv

    import pyarrow as pa
    import pyarrow.parquet as pq

    unknown = {key for row in rows for key in row} - set(METRICS_LONG_COLUMNS)
    if unknown:
        raise ValueError(f"metrics_long: unknown columns {sorted(unknown)}; known: {list(METRICS_LONG_COLUMNS)}")
    table = [{key: to_jsonable(row.get(key)) for key in METRICS_LONG_COLUMNS} for row in rows]    # NaN: empty
    out_dir = Path(out_dir)
    with open(out_dir / "metrics_long.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(METRICS_LONG_COLUMNS))
        writer.writeheader()
        writer.writerows(table)
    schema = pa.schema([(key, getattr(pa, _METRICS_LONG_TYPES.get(key, "string"))()) for key in METRICS_LONG_COLUMNS])
    pq.write_table(pa.Table.from_pylist(table, schema=schema), out_dir / "metrics_long.parquet")
    return [out_dir / "metrics_long.csv", out_dir / "metrics_long.parquet"]


def write_summary(out_dir: Path, study, metrics: dict, *, title: str, command: list[str]) -> str:
    """``summary.md``: the summary the run printed (the study's ``summary_text``), under its title
    and command; returns that text."""
    summary = getattr(study, "summary_text", None)
    text = summary(metrics) if summary else ""
    (Path(out_dir) / "summary.md").write_text(f"# {title}\n\n`{' '.join(command)}`\n\n```\n{text.strip()}\n```\n")
    return text


def default_out_dir(config_path: str | Path) -> Path:
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    return Path("results") / f"{Path(config_path).stem}-{stamp}"


def _record_failure(partial: Path, provenance: dict, exc: BaseException, started: float, *,
                    finished_tasks: int) -> None:
    """A run that stopped: refused before computing anything -> no folder at all; otherwise the
    folder stays ``<out>.partial`` (resumable) with ``status`` interrupted or failed and the error."""
    computed = [p for p in partial.rglob("*") if p.is_file() and p.name not in ("config.yaml", "provenance.json")]
    if isinstance(exc, BioplasticError) and not finished_tasks and not computed:
        shutil.rmtree(partial, ignore_errors=True)
        return
    interrupted = isinstance(exc, (KeyboardInterrupt, SystemExit))
    provenance.update(status="interrupted" if interrupted else "failed",
                      error=f"{type(exc).__name__}: {exc}"[:2000], finished_tasks=finished_tasks,
                      stopped=datetime.now(UTC).isoformat(), wall_time_s=round(time.time() - started, 2))
    write_json(partial / "provenance.json", provenance)


#: Config keys that say where a run computes, not what it computes.
PLACEMENT_KEYS = ("workers", "scheduler")


def _placed_as(stored: str | None, config: dict) -> tuple[str | None, str | None]:
    """``stored`` config text with ``config``'s :data:`PLACEMENT_KEYS`, and what that changed
    (e.g. ``"workers: 1 -> 2"``), or None."""
    try:
        before = yaml.safe_load(stored) if stored else None
    except yaml.YAMLError:
        return stored, None
    if not isinstance(before, dict):
        return stored, None
    moved = [f"{key}: {before.get(key)} -> {config.get(key)}" for key in PLACEMENT_KEYS
             if key in before and before[key] != config.get(key)]
    if not moved:
        return stored, None
    before.update({key: config.get(key) for key in PLACEMENT_KEYS if key in before})
    return dump(before), ", ".join(moved)


def _earlier_attempts(partial: Path) -> list[dict]:
    """The provenance of every earlier attempt at an interrupted run, oldest first."""
    try:
        last = json.loads((partial / "provenance.json").read_text())
    except (OSError, ValueError):
        return []
    attempts = last.pop("earlier_attempts", [])
    if last.get("status") == "running":            # its process ended without a word (SIGKILL, lease over)
        written = [p.stat().st_mtime for p in partial.rglob("*") if p.is_file()]
        last.update(status="killed", last_file_written=datetime.fromtimestamp(max(written), UTC).isoformat())
    return attempts + [last]


@contextmanager
def one_writer(out: Path, writes: str | None = None):
    """Hold ``<out>.lock`` (an exclusive ``flock``, released by the OS if the process dies) while
    this process writes ``writes`` (default ``<out>``): a second run or sweep with the same
    ``--out`` is refused at once, where it would otherwise run the same tasks, overwrite their
    checkpoints and rename folders under the first. The lock file names its holder and is
    removed at the end."""
    try:
        import fcntl
    except ImportError:                 # no flock (Windows): one writer is the user's to ensure
        yield
        return
    lock = out.with_name(out.name + ".lock")
    lock.parent.mkdir(parents=True, exist_ok=True)
    while True:
        handle = open(lock, "a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "a process"
            handle.close()
            raise ConfigError(f"{writes or str(out)!r} is being written by another bioplastic process now ({holder}). "
                              f"Wait for it to end (its provenance.json says how far it is), or choose "
                              f"another --out.") from None
        try:
            if os.fstat(handle.fileno()).st_ino == os.stat(lock).st_ino:
                break                   # still the file at that path: not one its last holder just removed
        except FileNotFoundError:
            pass
        handle.close()
    handle.seek(0)
    handle.truncate()
    handle.write(f"pid {os.getpid()} on {platform.node()}, since {datetime.now(UTC):%Y-%m-%d %H:%M:%S} UTC\n")
    handle.flush()
    try:
        yield
    finally:
        lock.unlink(missing_ok=True)
        handle.close()


@contextmanager
def run_directory(out: Path, config: dict, **options):
    """Yield ``<out>.partial``; on success rename it to ``out`` (:func:`_run_directory`), one
    process at a time (:func:`one_writer`)."""
    with one_writer(Path(out), f"{out}.partial"), _run_directory(out, config, **options) as partial:
        yield partial


@contextmanager
def _run_directory(out: Path, config: dict, *, command: list[str] | None = None, overwrite: bool = False,
                   extend: bool = False, extendable: bool = False, flags: dict | None = None, resumable=None):
    """Yield ``<out>.partial``; on success rename it to ``out``.

    An existing ``<out>.partial`` of the same config (an interrupted run) is resumed: the tasks
    it finished are not run again. One of another config is refused (hours of finished tasks
    are not discarded silently) unless ``overwrite``, or unless ``resumable(stored config text,
    config, partial folder)`` (a study's ``resumable_change``) names the difference as one its checkpoints allow
    (e.g. more or fewer decision-layer epochs): then it is resumed under the new config, and
    provenance records the change. Where the run computes (:data:`PLACEMENT_KEYS`: ``workers``,
    ``scheduler``) may change on resuming: every task is seeded on its own. Each earlier attempt's
    provenance is kept in ``earlier_attempts`` (one killed without notice, e.g. by the end of a
    machine's lease, is marked ``killed`` with the time of its last file).

    A finished run of an ``extendable`` study (one whose finished tasks stay valid under the
    changes ``resumable`` allows, e.g. forgetting_conv's seeds and variants) keeps its task
    results (``.tasks``), so that ``extend`` can add to it: the run is copied to
    ``<out>.partial`` and resumed there; ``out`` stays whole until the extended run completes.
    """
    from bioplastic.sweep import cached_task_count, task_cache

    out = Path(out)
    partial = out.with_name(out.name + ".partial")
    tasks = partial / ".tasks"
    copied = _copy_to_extend(out, partial, extendable) if extend and out.exists() and not overwrite else False
    if out.exists() and not overwrite and not extend:
        raise ConfigError(f"output directory {str(out)!r} exists already. Choose another with --out, "
                          "or pass --overwrite to replace it" +
                          (", or --extend to add to it what the study allows (e.g. seeds, variants)." if extendable
                           else "."))
    stored = (partial / "config.yaml").read_text() if (partial / "config.yaml").exists() else None
    stored, moved = _placed_as(stored, config)
    same_config = stored == dump(config)
    try:
        change = (resumable(stored, config, partial) if stored and not same_config and not overwrite and resumable
                  else None)
        if copied and not change:
            raise ConfigError(f"{str(out)!r} has " + ("this config already: nothing to extend." if same_config else
                              "another config, and the difference is not one its study can add to a finished run "
                              "(e.g. seeds, variants). Choose another --out, or pass --overwrite to replace it."))
    except BaseException:
        if copied:                      # only the copy goes; the finished run was never touched
            shutil.rmtree(partial, ignore_errors=True)
        raise
    change = ", ".join(c for c in (moved, change) if c) if same_config or change else None
    earlier = _earlier_attempts(partial) if (same_config or change) else []
    if same_config or change:    # finished tasks, and checkpoints a study keeps inside a task, carry on
        print(f"resuming {partial}{' with ' + change if change else ''}: "
              f"{cached_task_count(tasks)} finished tasks are kept.")
    elif partial.exists() and not overwrite:
        raise ConfigError(f"{str(partial)!r} holds an interrupted run of another configuration "
                          f"({cached_task_count(tasks)} finished tasks). To resume it, run its own config: "
                          f"`bioplastic run {partial / 'config.yaml'} --out {out}`; to discard it, add --overwrite; "
                          "or choose another --out.")
    else:
        shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True, exist_ok=True)
    (partial / "config.yaml").write_text(dump(config))
    started = time.time()
    provenance = {"started": datetime.now(UTC).isoformat(), "command": command or sys.argv,
                  "versions": versions(), "seeds": config.get("seeds"), "status": "running",
                  "flags": flags or {}, "resumed_tasks": cached_task_count(tasks),
                  **({"resumed_with_change": change} if change else {}),
                  **({"earlier_attempts": earlier} if earlier else {})}
    write_json(partial / "provenance.json", provenance)
    read = {}
    try:
        with task_cache(tasks), recording_data_files() as read:
            yield partial
    except BaseException as exc:
        provenance["data_files"] = data_file_records(read)
        _record_failure(partial, provenance, exc, started, finished_tasks=cached_task_count(tasks))
        raise
    provenance.update(status="complete", finished=datetime.now(UTC).isoformat(),
                      wall_time_s=round(time.time() - started, 2), data_files=data_file_records(read))
    write_json(partial / "provenance.json", provenance)
    if not extendable:                  # nothing could extend this run: its task results go
        shutil.rmtree(tasks, ignore_errors=True)
    _finish(partial, out)


def _finish(partial: Path, out: Path) -> None:
    """Rename the complete ``partial`` to ``out``; an existing ``out`` (--overwrite, --extend) goes
    only once the new run is whole."""
    if out.exists():
        replaced = out.with_name(f".{out.name}.replaced.{os.getpid()}")
        os.replace(out, replaced)
        os.replace(partial, out)
        shutil.rmtree(replaced)
    else:
        os.replace(partial, out)


def _copy_to_extend(out: Path, partial: Path, extendable: bool) -> bool:
    """Copy the finished run ``out`` to ``partial`` for ``--extend``; False when ``partial``
    exists already (an interrupted extension, resumed as it is)."""
    if not extendable:
        raise ConfigError(f"this study cannot extend a finished run (its finished tasks would all run again). "
                          f"Choose another --out, or pass --overwrite to replace {str(out)!r}.")
    if partial.exists():
        return False
    if not (out / ".tasks").is_dir():
        raise ConfigError(f"{str(out)!r} kept no task results (it finished before bioplastic kept them for "
                          "--extend), so nothing in it can be reused. Choose another --out.")
    shutil.copytree(out, partial)
    return True


def load_run(directory: str | Path) -> tuple[dict, dict]:
    """(config, metrics) of a finished run folder: one written by ``bioplastic run`` or one point of a
    sweep (``points/<task>``). A ``.partial`` folder, or one without config.yaml or metrics.json, is
    refused with what to do."""
    directory = Path(directory)
    if directory.name.endswith(".partial"):
        raise BioplasticError(f"{str(directory)!r} is an unfinished run (a .partial folder): it has no complete "
                              "results to draw or tabulate. Rerun the command that wrote it (same --out) to finish it.")
    if not directory.is_dir():
        partial = directory.with_name(directory.name + ".partial")
        hint = f" ({partial} exists: that run did not finish)" if partial.exists() else ""
        raise BioplasticError(f"{str(directory)!r} is not a directory{hint}.")
    if (directory / "sweep.json").exists():
        raise BioplasticError(f"{str(directory)!r} is a sweep folder (its summary and plots are in it already); "
                              f"give one of its points instead, e.g. {directory / 'points' / '<task>'}.")
    if not (directory / "config.yaml").exists():
        raise BioplasticError(f"{str(directory)!r} is not a run folder: it has no config.yaml (a folder written by "
                              "`bioplastic run` or a sweep point, e.g. results/<experiment>-<time>).")
    provenance_path = directory / "provenance.json"
    status = json.loads(provenance_path.read_text()).get("status") if provenance_path.exists() else None
    if status not in (None, "complete"):
        raise BioplasticError(f"{str(directory)!r} is not a finished run: its provenance.json says status {status!r}.")
    if not (directory / "metrics.json").exists():
        raise BioplasticError(f"{str(directory)!r} has no metrics.json: the run did not finish (or wrote no results).")
    config = yaml.safe_load((directory / "config.yaml").read_text()) or {}
    if "study" not in config:
        raise BioplasticError(f"{str(directory / 'config.yaml')!r} names no study (no `study:` key).")
    return config, json.loads((directory / "metrics.json").read_text())


def write_merged_run(out: Path, study, runs: list[tuple[str, dict, dict]], *, command: list[str],
                     overwrite: bool = False) -> tuple[dict, dict]:
    """``bioplastic merge``: one run folder ``out`` made of finished runs ``(folder, config,
    metrics)`` of the same study and protocol that ran other seeds or variants (the study's
    ``merge`` pools them and says what stands in the way). The folder is what ``bioplastic run``
    would have written for the pooled seeds, less the arrays (``weights.nc``; they stay in the
    source folders): config, metrics, tables, figures; its provenance holds each source run's
    provenance and the data files they read. Written to ``<out>.partial`` and renamed when
    complete, as a run is."""
    out = Path(out)
    if out.exists() and not overwrite:
        raise ConfigError(f"output directory {str(out)!r} exists already. Choose another with --out, "
                          "or pass --overwrite to replace it.")
    config, metrics = study.merge(runs)                    # refused before anything is written
    sources = []
    data_files = {}
    for folder, _, _ in runs:
        provenance = json.loads((Path(folder) / "provenance.json").read_text())
        sources.append({"folder": str(folder), "provenance": provenance})
        for record in provenance.get("data_files", []):
            key = (str(record.get("root")), record["path"])
            if key in data_files and data_files[key].get("sha256") != record.get("sha256"):
                raise ConfigError(f"the runs read different versions of {record['path']} (SHA-256 "
                                  f"{data_files[key].get('sha256')} and {record.get('sha256')}): their seeds "
                                  "did not learn from the same data.")
            data_files[key] = record
    partial = out.with_name(out.name + ".partial")
    with one_writer(out, str(partial)):
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir(parents=True)
        (partial / "config.yaml").write_text(dump(config))
        study.write_results(metrics, partial)
        study.plot(metrics, config, partial)
        write_summary(partial, study, metrics, title=config.get("title") or f"{config['study']} (merged)",
                      command=command)
        now = datetime.now(UTC).isoformat()
        write_json(partial / "provenance.json", {
            "started": now, "finished": now, "command": command, "versions": versions(), "seeds": config["seeds"],
            "status": "complete", "merged_from": sources,
            "sources_wall_time_s": sum(s["provenance"].get("wall_time_s") or 0 for s in sources),
            "data_files": [data_files[k] for k in sorted(data_files)]})
        _finish(partial, out)
    return config, metrics
