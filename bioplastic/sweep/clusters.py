"""Where the tasks of a sweep run: in this process, a local Dask cluster, an existing scheduler,
or a batch-system cluster that dask-jobqueue starts (SLURM, PBS, SGE, LSF, ...).

A jobqueue cluster is adaptive (``adapt()``): it submits jobs while tasks wait, and a job that
is lost (cancelled, pre-empted, past its walltime) is replaced; Dask reruns its task elsewhere.
Every worker is single-threaded: Brian2's device is per process.
"""
from __future__ import annotations

import difflib
import re
import sys
from contextlib import contextmanager

from bioplastic.errors import ConfigError

JOBQUEUE_CLASSES = {"slurm": "SLURMCluster", "pbs": "PBSCluster", "sge": "SGECluster", "lsf": "LSFCluster",
                    "oar": "OARCluster", "htcondor": "HTCondorCluster", "moab": "MoabCluster"}
_WALLTIME = re.compile(r"^(\d+-)?\d+(:\d{1,2}){0,2}$")


def check_cluster(section: dict) -> dict:
    """Refuse what dask-jobqueue would refuse later (or on a compute node): checked before submission."""
    kind = section.get("kind")
    if kind in (None, "", "local"):
        return dict(section, kind=None)
    if kind not in JOBQUEUE_CLASSES:
        close = difflib.get_close_matches(str(kind), list(JOBQUEUE_CLASSES), n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ConfigError(f"cluster.kind {kind!r} is not a batch system dask-jobqueue knows.{hint} Use one of: "
                          f"{', '.join(JOBQUEUE_CLASSES)} (or --workers N for this machine).")
    from dask.utils import parse_bytes
    try:
        parse_bytes(str(section.get("memory")))
    except (ValueError, TypeError):
        raise ConfigError(f"cluster.memory: cannot read {section.get('memory')!r} as an amount of memory; write "
                          "e.g. '4GB', '2 GiB' or '500MB' (memory per job).") from None
    for key in ("cores", "jobs", "minimum_jobs"):
        value = section.get(key)
        if not isinstance(value, int) or isinstance(value, bool) or value < (0 if key == "minimum_jobs" else 1):
            raise ConfigError(f"cluster.{key} must be a {'non-negative' if key == 'minimum_jobs' else 'positive'} "
                              f"integer, got {value!r}.")
    if section["minimum_jobs"] > section["jobs"]:
        raise ConfigError(f"cluster.minimum_jobs ({section['minimum_jobs']}) exceeds cluster.jobs "
                          f"({section['jobs']}), the most jobs at once.")
    processes = section.get("processes") or section["cores"]
    if not isinstance(processes, int) or section["cores"] % processes:
        raise ConfigError(f"cluster.processes ({processes!r}) must divide cluster.cores ({section['cores']}).")
    walltime = section.get("walltime")
    if walltime is not None and not _WALLTIME.match(str(walltime)):
        raise ConfigError(f"cluster.walltime: cannot read {walltime!r}; write HH:MM:SS (e.g. '02:00:00') or "
                          "D-HH:MM:SS.")
    try:
        import dask_jobqueue  # noqa: F401
    except ImportError:
        raise ConfigError("cluster.kind needs dask-jobqueue: pip install -e '.[cluster]'.") from None
    return dict(section, processes=processes)


def describe(*, workers: int, scheduler: str | None, cluster: dict) -> str:
    if scheduler:
        return f"on the Dask scheduler at {scheduler}"
    if cluster.get("kind"):
        return (f"on {cluster['kind'].upper()} through dask-jobqueue (up to {cluster['jobs']} jobs of "
                f"{cluster['cores']} cores, {cluster['memory']}, adaptive)")
    return f"on a local Dask cluster of {workers} worker processes" if workers > 1 else "in this process"


def jobqueue_cluster(section: dict):
    import dask_jobqueue

    cls = getattr(dask_jobqueue, JOBQUEUE_CLASSES[section["kind"]])
    interface = section.get("interface")
    scheduler_options = {"dashboard_address": "127.0.0.1:0" if interface == "lo" else ":8787"}
    options = dict(cores=section["cores"], processes=section["processes"], memory=str(section["memory"]),
                   walltime=section.get("walltime"), queue=section.get("queue"), account=section.get("account"),
                   job_extra_directives=list(section.get("job_extra") or []),
                   job_script_prologue=list(section.get("job_script_prologue") or []),
                   interface=interface, log_directory=section.get("log_directory"),
                   local_directory=section.get("local_directory"), python=sys.executable,
                   scheduler_options=scheduler_options)
    cluster = cls(**{k: v for k, v in options.items() if v is not None})
    cluster.adapt(minimum_jobs=section["minimum_jobs"], maximum_jobs=section["jobs"])
    return cluster


def local_cluster(**options):
    """A Dask LocalCluster on this machine's loopback without a dashboard. Its scheduler still
    serves HTTP (health, metrics): on a free port, not on 8787, which a second cluster on the
    same machine (another run, a test) would find taken, with a warning."""
    from dask.distributed import LocalCluster

    return LocalCluster(host="127.0.0.1", dashboard_address=None, scheduler_kwargs={"dashboard_address": ":0"},
                        **options)


def worker_memory(scheduler: str, timeout: str = "10s") -> int | None:
    """Bytes of memory of the smallest worker of the Dask scheduler at ``scheduler`` (its
    ``memory_limit``), None where it has no workers yet or none states a limit: what a task run
    there may hold, which is not this machine's memory."""
    from dask.distributed import Client

    try:
        with Client(scheduler, timeout=timeout) as client:
            workers = client.scheduler_info().get("workers", {}).values()
    except (OSError, TimeoutError) as exc:
        raise ConfigError(f"cannot reach the Dask scheduler at {scheduler!r} ({exc}). Start it first "
                          "(`dask scheduler`, then `dask worker <address>`), or run without --scheduler.") from None
    limits = [int(w["memory_limit"]) for w in workers if w.get("memory_limit")]
    return min(limits) if limits else None


@contextmanager
def dask_client(*, workers: int = 1, scheduler: str | None = None, cluster: dict | None = None, n_tasks: int = 1,
                start: bool = True):
    """A Dask client for the tasks, or None to run them in this process (or when ``start`` is false:
    nothing left to run, no cluster to start)."""
    cluster = cluster or {}
    if not start or not scheduler and not cluster.get("kind") and (workers <= 1 or n_tasks <= 1):
        yield None
        return
    from dask.distributed import Client

    if scheduler:
        started = None
        client = Client(scheduler)
    elif cluster.get("kind"):
        started = jobqueue_cluster(cluster)
        client = Client(started)
    else:
        started = local_cluster(n_workers=min(workers, n_tasks), threads_per_worker=1, processes=True)
        client = Client(started)
    try:
        yield client
    finally:
        client.close()
        if started is not None:
            started.close()
