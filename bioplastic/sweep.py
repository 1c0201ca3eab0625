"""Independent tasks (seeds, variants, class sets, sweep points) on Dask.

``workers=1`` runs them in this process, in order. ``workers>1`` starts a local Dask
cluster of single-threaded worker processes (Brian2's device is per process). A
``scheduler`` address connects to an existing cluster, e.g. one started with
dask-jobqueue on SLURM/PBS (see README).
"""
from __future__ import annotations

import traceback
from typing import Callable, Sequence

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


def map_tasks(function: Callable, tasks: Sequence, *, workers: int = 1, scheduler: str | None = None) -> list:
    if scheduler is None and (workers <= 1 or len(tasks) <= 1):
        return [function(task) for task in tasks]
    from dask.distributed import Client, LocalCluster

    if scheduler:
        client, cluster = Client(scheduler), None
    else:
        cluster = LocalCluster(n_workers=min(workers, len(tasks)), threads_per_worker=1, processes=True,
                               dashboard_address=None)
        client = Client(cluster)
    try:
        futures = client.map(_portable(function), tasks, pure=False)
        return client.gather(futures)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
