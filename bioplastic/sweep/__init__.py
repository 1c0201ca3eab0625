"""Independent tasks (seeds, variants, class sets, sweep points) on Dask.

``workers=1`` runs them in this process, in order. ``workers>1`` starts a local Dask
cluster of single-threaded worker processes (Brian2's device is per process). A
``scheduler`` address connects to an existing cluster, e.g. one started with
dask-jobqueue on SLURM/PBS (see README).

Inside :func:`task_cache` (``bioplastic run`` opens one in its ``<out>.partial`` folder)
every finished task's result is kept on disk as soon as it arrives, so an interrupted run
with several variants or class sets resumes with the unfinished tasks only.

The parameter sweep (``bioplastic sweep``) is built on the same Dask machinery:
:mod:`bioplastic.sweep.points` (the grid), :mod:`bioplastic.sweep.clusters` (where it runs),
:mod:`bioplastic.sweep.runner` (resumable execution) and :mod:`bioplastic.sweep.table`
(results across points).
"""
from __future__ import annotations

import hashlib
import json
import os
import pickle
import traceback
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from collections.abc import Callable, Sequence

from bioplastic.errors import BioplasticError


class TaskError(RuntimeError):
    """A task failed on a Dask worker; carries the worker's traceback as text (always picklable)."""


def _portable(function: Callable) -> Callable:
    def run(task):
        try:
            return function(task)
        except Exception as exc:
            if isinstance(exc, BioplasticError):
                raise type(exc)(str(exc)) from None
            raise TaskError(f"task failed on a worker: {exc!r}\n{traceback.format_exc()}") from None
    return run


_CACHE_DIR: ContextVar[Path | None] = ContextVar("bioplastic_task_cache", default=None)


@contextmanager
def task_cache(directory: str | Path):
    """Keep the result of every task that :func:`map_tasks` finishes in ``directory``; reuse them."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    token = _CACHE_DIR.set(directory)
    try:
        yield directory
    finally:
        _CACHE_DIR.reset(token)


def cached_task_count(directory: str | Path) -> int:
    return len(list(Path(directory).glob("*.pkl"))) if Path(directory).is_dir() else 0


def _task_key(function: Callable, task) -> str:
    """Same function and same task (config, variant, classes...) -> same key, across processes."""
    text = json.dumps([function.__module__, function.__qualname__, task], sort_keys=True, default=repr)
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def _store(directory: Path, key: str, result) -> None:
    tmp = directory / f".{key}.{os.getpid()}.tmp"
    with open(tmp, "wb") as handle:
        pickle.dump(result, handle)
    os.replace(tmp, directory / f"{key}.pkl")       # atomic: a result file is complete or absent


def map_tasks(function: Callable, tasks: Sequence, *, workers: int = 1, scheduler: str | None = None) -> list:
    cache = _CACHE_DIR.get()
    keys = [_task_key(function, task) for task in tasks] if cache else [None] * len(tasks)
    results: dict[int, object] = {}
    if cache:
        for i, key in enumerate(keys):
            if (cache / f"{key}.pkl").exists():
                results[i] = pickle.loads((cache / f"{key}.pkl").read_bytes())
    todo = [i for i in range(len(tasks)) if i not in results]

    def keep(i, result):
        results[i] = result
        if cache:
            _store(cache, keys[i], result)

    from bioplastic.sweep.clusters import dask_client

    with dask_client(workers=workers, scheduler=scheduler, n_tasks=len(todo)) as client:
        if client is None:
            for i in todo:
                keep(i, function(tasks[i]))
        else:
            from dask.distributed import as_completed

            futures = {client.submit(_portable(function), tasks[i], pure=False): i for i in todo}
            for future, result in as_completed(futures, with_results=True):
                keep(futures[future], result)
    return [results[i] for i in range(len(tasks))]
