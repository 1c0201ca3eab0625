"""Bad configuration is explained before any computation starts."""
import pytest
import yaml

from bioplastic.config import load_config, lookup, parse_cli_overrides, variant_config
from bioplastic.errors import ConfigError, ModelError
from bioplastic.studies.common import spec_from_config
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
    assert parse_quantity(no_theta["network"]["layers"]["exc"]["neuron"]["parameters"]["theta_plus"]) == 0
    spec = spec_from_config(no_theta, 3)
    assert float(spec.layers["exc"].model.parameters["theta_plus"]) == 0


def test_unknown_key_suggests_the_closest_valid_key(tmp_path):
    path = write(tmp_path, {"study": "supervised", "network": {"layers": {"exc": {"n_per_clas": 5}}}})
    with pytest.raises(ConfigError, match=r"unknown config key 'network.layers.exc.n_per_clas'.*"
                                          r"Did you mean 'n_per_class'"):
        load_config(path)


def test_unknown_key_in_cli_override_and_variant(tmp_path):
    with pytest.raises(ConfigError, match="Did you mean 'seeds'"):
        load_config(EXPERIMENT, ["seed=3"])
    path = write(tmp_path, {"study": "supervised", "variants": {"a": {"network.input.max_rat": "10 Hz"}}})
    with pytest.raises(ConfigError, match=r"variants.a.network.input.max_rat.*Did you mean 'max_rate'"):
        load_config(path)


def test_unknown_study_is_named(tmp_path):
    with pytest.raises(ConfigError, match="unknown study 'supervise'.*Did you mean 'supervised'"):
        load_config(write(tmp_path, {"study": "supervise"}))


def test_cli_values_are_read_as_yaml():
    assert parse_cli_overrides(["seeds=[1, 2]", "network.input.max_rate=20 Hz"]) == {
        "seeds": [1, 2], "network": {"input": {"max_rate": "20 Hz"}}}
    with pytest.raises(ConfigError, match="key=value"):
        parse_cli_overrides(["seeds"])


def test_a_dotted_lookup_reads_the_nested_value_and_none_where_the_path_ends():
    config = {"forgetting": {"radii": [[5, 2]], "langevin": None}, "seeds": [0]}
    assert lookup(config, "forgetting.radii") == [[5, 2]]
    assert lookup(config, "seeds") == [0]
    assert lookup(config, "forgetting.langevin.sigma") is None
    assert lookup(config, "forgetting.missing") is None
    assert lookup(config, "seeds.first") is None


@pytest.mark.parametrize("override, error, message", [
    ("network.layers.exc.neuron.parameters.tau_m=-10 ms", ModelError, "tau_m must be > 0"),
    ("network.layers.exc.neuron.parameters.tau_theta=0 ms", ModelError, "tau_theta must be > 0"),
    ("network.layers.exc.neuron.model=adaptive_lfi", ModelError, "Did you mean 'adaptive_lif'"),
    ("network.layers.exc.neuron.equations.v=dv/dt = (E_rest - v)/tau_m + I_ext : volt", ModelError,
     "nconsistent units"),
    ("network.layers.exc.neuron.equations.v=dv/dt = (E_rest - v + bogus)/tau_m : volt", ModelError, "'bogus'"),
    ("network.projections.input_to_exc.plasticity.rule=stpd", ModelError, "Did you mean 'stdp'"),
])
def test_bad_values_raise_clear_errors(override, error, message):
    config = load_config(EXPERIMENT, [override])
    with pytest.raises(error, match=message):
        spec_from_config(config, 3)


@pytest.mark.parametrize("override, message", [
    ("network.input.max_rate=-5 Hz", "network.input.max_rate: must be > 0 (got '-5 Hz')"),
    ("network.input.max_rate=0 Hz", "network.input.max_rate: must be > 0 (got '0 Hz')"),
    ("network.dt=0.5 mV", "network.dt: expected a quantity in ms, e.g. '10 ms' (got '0.5 mV')"),
    ("network.dt=0.5 bogus", "network.dt: unknown unit"),
    ("protocol.rest_duration=-1 ms", "protocol.rest_duration: must be >= 0 (got '-1 ms')"),
    ("network.layers.exc.teacher.rate=true", "network.layers.exc.teacher.rate: expected a quantity"),
])
def test_quantities_of_the_wrong_unit_or_sign_are_refused_when_read(override, message):
    with pytest.raises(ConfigError) as info:
        load_config(EXPERIMENT, [override])
    assert message in str(info.value)


def test_missing_config_file():
    with pytest.raises(ConfigError, match="does not exist"):
        load_config("nope.yaml")


# --- networks of named layers and projections ---------------------------------------------------
FORGETTING = REPO / "experiments" / "forgetting_dense_class_incremental.yaml"


@pytest.mark.parametrize("old, new", [
    ("network.n_per_class", "network.layers.<layer>.n_per_class"),
    ("network.plasticity", "network.projections.<projection>.plasticity"),
    ("network.lateral_inhibition", "network.layers.<layer>.inhibition.lateral"),
    ("network.max_rate", "network.input.max_rate"),
])
def test_old_network_key_in_a_file_names_its_new_place(tmp_path, old, new):
    _, key = old.split(".")
    path = write(tmp_path, {"study": "supervised", "network": {key: {"rule": "stdp"} if key == "plasticity" else 5}})
    with pytest.raises(ConfigError, match=rf"'{old}' belongs to the old single-shape network.*it is now {new}"):
        load_config(path)


def test_old_network_key_in_a_variant_or_on_the_command_line_names_its_new_place(tmp_path):
    path = write(tmp_path, {"study": "supervised", "variants": {"big": {"network.n_per_class": 20}}})
    with pytest.raises(ConfigError,
                       match=r"'variants.big.network.n_per_class'.*now network.layers.<layer>.n_per_class"):
        load_config(path)
    with pytest.raises(ConfigError, match=r"'network.hidden'.*a layer of its own under network.layers"):
        load_config(EXPERIMENT, ["network.hidden.n=16"])
    with pytest.raises(ConfigError, match=r"'network.excitatory'.*now network.layers.<layer>.neuron"):
        load_config(EXPERIMENT, ["network.excitatory.parameters.theta_plus=0 mV"])


@pytest.mark.parametrize("overrides, message", [
    (["network.projections.input_to_exc.target=ecx"],
     r"network.projections.input_to_exc.target: no layer named 'ecx'. Did you mean 'exc'\?"),
    (["network.projections.input_to_exc.source=inputs"],
     r"network.projections.input_to_exc.source: no layer named 'inputs'. Did you mean 'input'\?"),
    (["network.layers.orphan.size=4"], r"layer\(s\) 'orphan' receive no input"),
    (["network.layers.orphan.size=4", "network.projections.loop.source=orphan",
      "network.projections.loop.target=orphan", "network.projections.loop.plasticity=null"],
     r"layer\(s\) 'orphan' receive no input"),
    (["network.layers.exc.size=30"], r"network.layers.exc: give exactly one of size.*got size, n_per_class"),
    (["network.layers.exc.n_per_class=null"], r"network.layers.exc: give exactly one of size.*got none"),
    (["network.layers.exc.n_per_class=null", "network.layers.exc.size=30",
      "network.projections.input_to_exc.plasticity.rule=stdp"],
     r"segment readout needs class segments in layer 'exc'.*or use kind: label_assignment"),
    (["network.layers.exc.n_per_class=null", "network.layers.exc.size=30"],
     r"input_to_exc.plasticity.rule: the 'supervised' rule follows the class segments"),
    (["network.readout.kind=segmnets"], r"network.readout.kind must be one of segments, label_assignment"),
    (["network.readout.layer=exc2"], r"network.readout.layer: no layer named 'exc2'"),
    (["network.projections.input_to_exc=null"], r"network.projections is empty"),
    (["network.projections.input_to_exc.connectivity=one_to_one"],
     r"input_to_exc: one_to_one needs layers of equal size, got 784 and 30"),
    (["network.projections.input_to_exc.connectivity=all_to_one"], r"connectivity: unknown kind 'all_to_one'"),
])
def test_bad_layers_and_projections_raise_clear_errors(overrides, message):
    config = load_config(EXPERIMENT, overrides)
    with pytest.raises(ConfigError, match=message):
        spec_from_config(config, 3)


def test_cli_override_of_a_projections_rule_parameter_reaches_the_spec():
    config = load_config(EXPERIMENT, ["network.projections.input_to_exc.plasticity.parameters.A_pre=0.005"])
    rule = spec_from_config(config, 3).projections["input_to_exc"].rule
    assert rule.name == "supervised" and rule.parameters["A_pre"] == 0.005
    assert rule.parameters["A_post"] == -0.0001           # the file's other parameters stay


def test_a_variant_removes_a_projection_with_null_and_adds_a_layer():
    config = load_config(FORGETTING)
    single, two = variant_config(config, "global_inhibition"), variant_config(config, "two_layer_global_global")
    assert list(single["network"]["projections"]) == ["input_to_exc"]
    assert "input_to_exc" not in two["network"]["projections"]
    assert "input_to_exc" in config["network"]["projections"]          # the base config is untouched
    spec = spec_from_config(two, 36)
    assert list(spec.layers) == ["hidden", "exc"] and spec.layers["hidden"].size == 196
    assert {n: (p.source, p.target, p.rule.name) for n, p in spec.projections.items()} == {
        "input_to_hidden": ("input", "hidden", "stdp"), "hidden_to_exc": ("hidden", "exc", "supervised")}
    assert spec.projections["hidden_to_exc"].gain == 10.0


def test_a_variant_in_a_file_removes_a_projection(tmp_path):
    path = write(tmp_path, {"study": "supervised", "network": {
        "layers": {"exc": {"n_per_class": 2}},
        "projections": {"input_to_exc": {"source": "input", "target": "exc"},
                        "extra": {"source": "input", "target": "exc", "plasticity": None}}},
        "variants": {"without_extra": {"network.projections.extra": None}, "both": {}}})
    config = load_config(path)
    assert set(spec_from_config(config, 3).projections) == {"input_to_exc", "extra"}
    assert not spec_from_config(config, 3).projections["extra"].plastic            # plasticity: null = frozen
    assert set(spec_from_config(variant_config(config, "without_extra"), 3).projections) == {"input_to_exc"}


def test_unit_strings_are_parsed_without_python_evaluation():
    """Only unit names, numbers, * / ** and parentheses: attribute access or calls are refused."""
    from bioplastic.units import parse_quantity
    from brian2 import cm, uA
    assert abs(float(parse_quantity("10 uA/cm**2") / (10 * uA / cm ** 2)) - 1) < 1e-12
    for text in ("3 ms.__class__", "3 (ms)()", "1 __import__"):
        with pytest.raises(ConfigError, match="unknown unit"):
            parse_quantity(text)


@pytest.mark.parametrize("override, message", [
    ("seeds=[a]", "seeds.0: Input should be a valid integer, unable to parse string as an integer (got 'a')"),
    ("seeds=[]", "seeds: List should have at least 1 item after validation, not 0 (got [])"),
    ("seeds=[1,1]", "seeds: the seeds must be distinct (got [1, 1])"),
    ("seeds=[-1]", "seeds.0: Input should be greater than or equal to 0 (got -1)"),
    ("data.classes=2", "data.classes: Input should be a valid list (got 2)"),
    ("data.classes=[]", "data.classes: List should have at least 1 item"),
    ("data.n_train=abc", "data.n_train: Input should be a valid integer, unable to parse string as an integer"),
    ("data.n_train=2.5", "data.n_train: Input should be a valid integer, got a number with a fractional part"),
    ("data.dataset=cifar", "data.dataset: Input should be 'mnist' or 'emnist_letters' (got 'cifar')"),
    ("protocol.eval_every=-1", "protocol.eval_every: Input should be greater than or equal to 0 (got -1)"),
    ("workers=0", "workers: Input should be greater than or equal to 1 (got 0)"),
    ("device.name=cpp", "device.name: Input should be 'runtime', 'cpp_standalone', 'genn' or 'cuda_standalone'"),
    ("network.layers.exc.n_per_class=abc", "network.layers.exc.n_per_class: Input should be a valid integer"),
    ("network.projections.input_to_exc.probability=1.5",
     "network.projections.input_to_exc.probability: Input should be less than or equal to 1 (got 1.5)"),
    ("network.layers.exc.inhibition.radius=-2",
     "network.layers.exc.inhibition.radius: Input should be greater than or equal to 0 (got -2)"),
    ("variants.x={protocol.eval_every: -3}",
     "variants.x: protocol.eval_every: Input should be greater than or equal to 0 (got -3)"),
])
def test_common_keys_of_the_wrong_type_are_refused_when_read(override, message):
    """Values that used to crash deep inside Brian2 or numpy are stopped with the key's name."""
    with pytest.raises(ConfigError) as info:
        load_config("experiments/supervised_stdp_alltd.yaml", [override])
    assert message in str(info.value)


def test_the_synapse_estimate_counts_every_connectivity_and_the_memory_check_uses_it():
    from bioplastic.config import load_config
    from bioplastic.studies.common import BYTES_PER_SYNAPSE, check_memory, spec_from_config
    config = load_config(str(REPO / "experiments" / "supervised_stdp_alltd.yaml"), ["data.classes=[0,1,2]"])
    spec = spec_from_config(config, 3)
    n = spec.layers["exc"].size
    # input -> exc all-to-all, exc <-> its inhibitory partners, partners -> all other exc neurons
    built = 784 * n + n + sum(len(spec.layers["exc"].lateral_pairs()[0]) for _ in [0])
    assert spec.synapse_estimate() == built
    check_memory(spec, 2, available=2 * built * BYTES_PER_SYNAPSE)                  # fits exactly
    with pytest.raises(ConfigError, match="about 0.0 GiB, more than"):
        check_memory(spec, 2, available=2 * built * BYTES_PER_SYNAPSE - 1)
