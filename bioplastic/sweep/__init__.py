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
import importlib
import json
import os
import pickle
import traceback
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
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


def _import_modules(modules: list[str]) -> None:
    for module in modules:
        importlib.import_module(module)


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
    """``[function(task) for task in tasks]``, the tasks independent of one another (see :func:`map_graph`)."""
    return map_graph([Node(function, task) for task in tasks], workers=workers, scheduler=scheduler)


@dataclass(frozen=True)
class Node:
    """One task of :func:`map_graph`: ``function(task)``, started once the nodes ``after`` (their
    indices) have finished; of the nodes ready at once, the highest ``priority`` starts first."""
    function: Callable
    task: object
    after: tuple[int, ...] = ()
    priority: int = 0


def map_graph(nodes: Sequence[Node], *, workers: int = 1, scheduler: str | None = None,
              on_result: Callable[[int, object], None] | None = None) -> list:
    """The results of ``nodes`` (:class:`Node`), in their order, for tasks that read what earlier
    ones wrote (e.g. stage files): a node starts once the nodes it comes after have finished.
    With Dask, every node runs as soon as it is ready, so no worker waits for a whole stage of
    other tasks to end; in this process, nodes run in the order given (each after the nodes it
    comes after). Finished results are kept and reused as :func:`task_cache` says;
    ``on_result(index, result)`` is called as each node finishes (kept ones first)."""
    cache = _CACHE_DIR.get()
    keys = [_task_key(node.function, node.task) for node in nodes] if cache else [None] * len(nodes)
    for i, node in enumerate(nodes):
        if any(not 0 <= j < len(nodes) or j == i for j in node.after):
            raise ValueError(f"node {i} comes after {node.after}: not other nodes of the {len(nodes)} given")
    ordered, left = set(), set(range(len(nodes)))
    while left:                         # every node can start once those before it end: no circle
        ready = {i for i in left if ordered.issuperset(nodes[i].after)}
        if not ready:
            raise ValueError(f"nodes {sorted(left)} never become ready: they come after one another in a circle")
        ordered |= ready
        left -= ready
    results: dict[int, object] = {}

    def keep(i, result, store=True):
        results[i] = result
        if cache and store:
            _store(cache, keys[i], result)
        if on_result is not None:
            on_result(i, result)

    for i, key in enumerate(keys):
        if cache and (cache / f"{key}.pkl").exists():
            keep(i, pickle.loads((cache / f"{key}.pkl").read_bytes()), store=False)
    waiting = [i for i in range(len(nodes)) if i not in results]

    from bioplastic.sweep.clusters import dask_client

    with dask_client(workers=workers, scheduler=scheduler, n_tasks=len(waiting)) as client:
        if client is None:
            for i in waiting:
                if any(j not in results for j in nodes[i].after):
                    raise ValueError(f"node {i} is listed before nodes it comes after ({nodes[i].after})")
                keep(i, nodes[i].function(nodes[i].task))
            return [results[i] for i in range(len(nodes))]
        from dask.distributed import as_completed

        # Every worker loads the tasks' code now, as this process did when the run began: a worker
        # that first imported it at its first task, hours into a run, would run whatever the
        # checkout held by then (a file edited during the run) beside workers running the code
        # the run began with.
        client.run(_import_modules, sorted({nodes[i].function.__module__ for i in waiting}))
        futures = {}

        def submit_ready() -> list:
            # highest priority first: idle workers take the tasks as they are submitted
            ready = sorted((i for i in waiting if all(j in results for j in nodes[i].after)),
                           key=lambda i: -nodes[i].priority)
            for i in ready:
                waiting.remove(i)
                futures[client.submit(_portable(nodes[i].function), nodes[i].task, pure=False,
                                      priority=nodes[i].priority)] = i
            return [f for f, i in futures.items() if i in ready]

        running = as_completed(submit_ready(), with_results=True)
        for future, result in running:
            keep(futures[future], result)
            for submitted in submit_ready():
                running.add(submitted)
    return [results[i] for i in range(len(nodes))]
