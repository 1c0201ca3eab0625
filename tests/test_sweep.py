"""Tasks on Dask worker processes: results in order, failures reported with their traceback."""
import pytest

from bioplastic.errors import ConfigError
from bioplastic.sweep import TaskError, map_tasks


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
