"""The typed config schema (bioplastic/schema.py): one place for every key's type, range, unit
and default; parsed once when a config is read."""
from __future__ import annotations

import subprocess
import sys

import pytest

from bioplastic import schema
from bioplastic.cli import main
from bioplastic.config import FREE_FORM, load_config
from bioplastic.errors import ConfigError
from bioplastic.studies import STUDIES, study_defaults

SUPERVISED = "experiments/supervised_stdp_alltd.yaml"


def _dotted(config: dict, prefix: str = "") -> list[str]:
    keys = []
    for key, value in config.items():
        if isinstance(value, dict) and value and key not in FREE_FORM | {"variants", "quick", "settings"}:
            keys += _dotted(value, f"{prefix}{key}.")
        else:
            keys.append(prefix + key)
    return keys


def test_the_study_registry_and_the_schema_know_the_same_studies():
    assert set(STUDIES) == set(schema.STUDY_SECTIONS)


@pytest.mark.parametrize("study", sorted(schema.STUDY_SECTIONS))
def test_every_key_of_every_study_has_a_type_a_default_and_a_meaning(study):
    rows = schema.schema_rows(schema.study_model(study))
    assert len({key for key, *_ in rows}) == len(rows)
    for key, kind, _default, description in rows:
        assert kind and "FieldInfo" not in kind and "typing" not in kind, key
        assert description, f"{key} has no description"
    listed = {key for key, *_ in rows}
    for key in _dotted({k: v for k, v in study_defaults(study).items() if k != "network"}):
        if key != "neuron_models.settings":            # listed per model, as settings.<model>.*
            assert key in listed, f"{key} is missing from the schema listing"


def test_config_schema_command_prints_every_key_with_its_type(capsys):
    assert main(["config", "--schema", "--study", "unsupervised"]) == 0
    out = capsys.readouterr().out
    assert "| `protocol.eval_every` | integer >= 0 | `100` |" in out
    assert "| `network.dt` | quantity in ms > 0 | `0.5 ms` |" in out
    assert "`network.projections.<projection>.probability` | number >= 0, <= 1 |" in out
    assert "`unsupervised.evaluate` | one of last, all |" in out
    assert "conv.engine" not in out                     # only the asked study's sections
    assert main(["config", "--schema", "--study", "unsupervized"]) == 2
    assert "Did you mean 'unsupervised'" in capsys.readouterr().err


def test_config_schema_as_json_schema(capsys):
    import json
    assert main(["config", "--schema", "--json", "--study", "supervised"]) == 0
    document = json.loads(capsys.readouterr().out)["supervised"]
    assert document["properties"]["workers"]["minimum"] == 1
    assert document["additionalProperties"] is False


def test_values_are_parsed_to_their_types_once_when_read():
    config = load_config(SUPERVISED, ["data.n_train=300.0", "protocol.reset_state=yes", "evaluation.batch_size='20'"])
    assert config["data"]["n_train"] == 300 and isinstance(config["data"]["n_train"], int)
    assert config["protocol"]["reset_state"] is True
    assert config["evaluation"]["batch_size"] == 20
    assert config["network"]["dt"] == "0.5 ms"           # quantities keep their text


def test_every_wrong_key_is_named_in_one_error():
    with pytest.raises(ConfigError) as info:
        load_config(SUPERVISED, ["data.n_train=-1", "network.dt=1 Hz"])
    text = str(info.value)
    assert "data.n_train: Input should be greater than or equal to 1 (got -1)" in text
    assert "network.dt: expected a quantity in ms" in text
    assert "bioplastic config --schema" in text


def test_a_layer_and_a_projection_are_checked_by_their_own_schema():
    with pytest.raises(ConfigError, match=r"network.layers.exc.competition.k: Field required"):
        load_config(SUPERVISED, ["network.layers.exc.competition={radius: 2}"])
    with pytest.raises(ConfigError, match=r"w_init_normal: List should have at least 2 items"):
        load_config(SUPERVISED, ["network.projections.input_to_exc.w_init_normal=[0.8]"])


def test_a_sweep_point_is_checked_by_the_schema():
    from bioplastic.sweep import points
    config = load_config(SUPERVISED)
    with pytest.raises(ConfigError, match=r"sweep point .*protocol.eval_every: Input should be greater"):
        points.resolve(config, {"protocol.eval_every": -5})


def test_the_config_module_does_not_import_the_studies():
    """The cycle config -> studies -> config is gone: the schema knows every study's sections."""
    code = ("import sys, bioplastic.config; "
            "assert not [m for m in sys.modules if m.startswith('bioplastic.studies')], 'studies imported'")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_a_variants_values_are_parsed_like_the_configs():
    from bioplastic.config import variant_config
    config = load_config(SUPERVISED, ["variants.mine={data.n_train: '40', protocol.reset_state: 'yes'}"])
    mine = variant_config(config, "mine")
    assert mine["data"]["n_train"] == 40 and mine["protocol"]["reset_state"] is True
