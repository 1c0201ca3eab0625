"""Device selection: clear errors for missing backends; GPU runs only where a GPU exists."""
import importlib.util
import shutil

import numpy as np
import pytest
import brian2

from bioplastic.devices import DeviceConfig
from bioplastic.errors import ConfigError

from test_network import make_spec, train


def test_unknown_device_is_named():
    with pytest.raises(ConfigError, match="unknown device 'gpu'"):
        DeviceConfig("gpu").validate()


@pytest.mark.parametrize("name, package, how", [("genn", "brian2genn", "make genn"),
                                                 ("cuda_standalone", "brian2cuda", "pip install")])
def test_gpu_device_without_its_package_says_what_to_install(name, package, how):
    if importlib.util.find_spec(package) is not None:
        pytest.skip(f"{package} is installed here")
    with pytest.raises(ConfigError, match=rf"needs the package '{package}'.*{how}"):
        DeviceConfig(name).validate()


def test_runtime_target_is_checked():
    with pytest.raises(ConfigError, match="target must be 'cython' or 'numpy'"):
        DeviceConfig("runtime", target="fortran").validate()


@pytest.mark.gpu
@pytest.mark.skipif(shutil.which("nvidia-smi") is None or importlib.util.find_spec("brian2cuda") is None,
                    reason="needs an NVIDIA GPU (nvidia-smi) and brian2cuda")
def test_cuda_standalone_learns_like_the_runtime(tmp_path):
    spec = make_spec()
    brian2.seed(11)
    result = train(spec, DeviceConfig("cuda_standalone", build_dir=str(tmp_path / "cuda")), n_images=18, n_copies=4)
    assert np.abs(result.snapshots_w[-1] - result.snapshots_w[0]).max() > 0.05
