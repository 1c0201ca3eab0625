"""Bad configuration is explained before any computation starts."""
import pytest
import yaml

from bioplastic.config import load_config, parse_cli_overrides, variant_config
from bioplastic.errors import ConfigError, ModelError
from bioplastic.studies.common import protocol_durations, spec_from_config
from bioplastic.units import parse_quantity

from conftest import REPO

EXPERIMENT = REPO / "experiments" / "supervised_stdp_alltd.yaml"


def write(tmp_path, data):
    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_shipped_experiment_resolves_with_both_variants():
    config = load_config(EXPERIMENT)
    assert config["data"]["classes"] == [0, 1, 2]
    no_theta = variant_config(config, "no_adaptive_threshold")
    assert parse_quantity(no_theta["network"]["excitatory"]["parameters"]["theta_plus"]) == 0
    spec = spec_from_config(no_theta, 3)
    assert float(spec.excitatory.parameters["theta_plus"]) == 0


def test_unknown_key_suggests_the_closest_valid_key(tmp_path):
    path = write(tmp_path, {"study": "supervised", "network": {"n_per_clas": 5}})
    with pytest.raises(ConfigError, match=r"unknown config key 'network.n_per_clas'.*Did you mean 'n_per_class'"):
        load_config(path)


def test_unknown_key_in_cli_override_and_variant(tmp_path):
    with pytest.raises(ConfigError, match="Did you mean 'seeds'"):
        load_config(EXPERIMENT, ["seed=3"])
    path = write(tmp_path, {"study": "supervised", "variants": {"a": {"network.max_rat": "10 Hz"}}})
    with pytest.raises(ConfigError, match="variants.a.network.max_rat"):
        load_config(path)


def test_unknown_study_is_named(tmp_path):
    with pytest.raises(ConfigError, match="unknown study 'supervise'.*Did you mean 'supervised'"):
        load_config(write(tmp_path, {"study": "supervise"}))


def test_cli_values_are_read_as_yaml():
    assert parse_cli_overrides(["seeds=[1, 2]", "network.max_rate=20 Hz"]) == {
        "seeds": [1, 2], "network": {"max_rate": "20 Hz"}}
    with pytest.raises(ConfigError, match="key=value"):
        parse_cli_overrides(["seeds"])


@pytest.mark.parametrize("override, error, message", [
    ("network.max_rate=-5 Hz", ConfigError, "max_rate must be positive"),
    ("network.max_rate=0 Hz", ConfigError, "max_rate must be positive"),
    ("network.dt=0.5 mV", ConfigError, "expected a quantity in"),
    ("network.excitatory.parameters.tau_m=-10 ms", ModelError, "tau_m must be > 0"),
    ("network.excitatory.parameters.tau_theta=0 ms", ModelError, "tau_theta must be > 0"),
    ("network.excitatory.model=adaptive_lfi", ModelError, "Did you mean 'adaptive_lif'"),
    ("network.excitatory.equations.v=dv/dt = (E_rest - v)/tau_m + I_ext : volt", ModelError, "nconsistent units"),
    ("network.excitatory.equations.v=dv/dt = (E_rest - v + bogus)/tau_m : volt", ModelError, "'bogus'"),
    ("network.plasticity.rule=stpd", ModelError, "Did you mean 'stdp'"),
])
def test_bad_values_raise_clear_errors(override, error, message):
    config = load_config(EXPERIMENT, [override])
    with pytest.raises(error, match=message):
        spec_from_config(config, 3)


def test_negative_time_constant_in_protocol():
    config = load_config(EXPERIMENT, ["protocol.rest_duration=-1 ms"])
    with pytest.raises(ConfigError, match="rest_duration must be >= 0"):
        protocol_durations(config)


def test_missing_config_file():
    with pytest.raises(ConfigError, match="does not exist"):
        load_config("nope.yaml")
