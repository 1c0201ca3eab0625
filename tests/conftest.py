import os
from pathlib import Path

import brian2
import pytest

os.environ.setdefault("MPLBACKEND", "Agg")
REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture(autouse=True)
def _brian_runtime_numpy():
    """Unit tests run on Brian2's numpy target: no compilation, fast start."""
    brian2.set_device("runtime")
    previous = brian2.prefs.codegen.target
    brian2.prefs.codegen.target = "numpy"
    yield
    brian2.prefs.codegen.target = previous


@pytest.fixture
def real_data(monkeypatch):
    """Point the loaders at ../shared/data, or skip with the reason."""
    data_dir = os.environ.get("BIOPLASTIC_DATA_DIR") or (str(SHARED_DATA) if SHARED_DATA.exists() else "")
    if not data_dir or not Path(data_dir, "mnist").exists():
        pytest.skip("real MNIST/EMNIST files not found: set BIOPLASTIC_DATA_DIR (e.g. to ../shared/data)")
    monkeypatch.setenv("BIOPLASTIC_DATA_DIR", data_dir)
    return Path(data_dir)
