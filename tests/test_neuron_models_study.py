"""The neuron_models study end to end, tiny: numbers in metrics.json checked against theory."""
import json

import numpy as np
import pytest

from bioplastic import cli
from bioplastic.studies import neuron_models

from conftest import REPO

EXPERIMENT = str(REPO / "experiments" / "neuron_models.yaml")
TINY = ["neuron_models.models=[lif,izhikevich_rs]", "neuron_models.network=false",
        "neuron_models.fi_points=7", "neuron_models.fi_duration=600 ms",
        "neuron_models.settings.lif.fi.start=0.1 nA", "neuron_models.settings.lif.fi.stop=0.7 nA",
        "neuron_models.settings.lif.step.currents=[0.1 nA, 0.3 nA]",
        "neuron_models.settings.lif.step.duration=100 ms",
        "neuron_models.settings.izhikevich_rs.step.duration=100 ms"]


def lif_rate(current_nA):
    """Closed form for the Diehl & Cook LIF (R_m 100 Mohm, tau_m 100 ms, 13 mV to threshold, t_ref 5 ms)."""
    drive = 100e6 * current_nA * 1e-9                       # volt
    return np.where(drive > 0.013, 1 / (0.005 + 0.1 * np.log(drive / np.maximum(drive - 0.013, 1e-12))), 0.0)


def test_single_neuron_part_matches_theory(tmp_path, capsys):
    out = tmp_path / "run"
    assert cli.main(["run", EXPERIMENT, *TINY, "--out", str(out)]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert list(metrics["models"]) == ["lif", "izhikevich_rs"] and "network" not in metrics

    lif = metrics["models"]["lif"]
    assert lif["fi"]["currents"][:2] == ["0.1 nA", "0.2 nA"] and lif["dt"] == "0.1 ms"
    currents = np.array([float(c.split()[0]) for c in lif["fi"]["currents"]])
    rates = np.array(lif["fi"]["rates_hz"])
    expected = lif_rate(currents)
    assert rates[0] == 0 and expected[0] == 0                            # 0.1 nA is below rheobase
    np.testing.assert_allclose(rates[1:], expected[1:], rtol=0.02)        # within 2 % above it
    assert lif["max_relative_error_vs_analytic"] < 0.02
    # Rheobase 13 mV / 100 Mohm = 0.13 nA; the finite window (a spike in its second half)
    # puts the measured onset slightly above.
    assert lif["analytic_rheobase"] == "0.13 nA"
    assert 0.13 <= float(lif["rheobase"].split()[0]) <= 0.14
    assert lif["steps"]["0.1 nA"]["n_spikes"] == 0 and lif["steps"]["0.3 nA"]["n_spikes"] >= 1

    rs = metrics["models"]["izhikevich_rs"]
    # The paper's RS cell: rheobase I = 3.8 (0.377 nA here); regular spiking with adaptation.
    assert abs(float(rs["rheobase"].split()[0]) - 0.377) < 0.005
    assert rs["steps"]["1 nA"]["initial_rate_hz"] > rs["steps"]["1 nA"]["steady_rate_hz"] > 0
    assert "analytic_rates_hz" not in rs

    for name in ("step_and_fi_lif.png", "step_and_fi_izhikevich.png", "fi_curves.png", "config.yaml"):
        assert (out / name).stat().st_size > 10_000 or name == "config.yaml"
    assert "izhikevich_rs" in capsys.readouterr().out


def test_bad_variant_fails_before_any_simulation(tmp_path, monkeypatch, capsys):
    """An LIF-only parameter set for every variant reaches the Izhikevich one: stopped early."""
    monkeypatch.setattr(neuron_models, "characterize_model", lambda *a: pytest.fail("simulation started"))
    out = tmp_path / "run"
    assert cli.main(["run", EXPERIMENT, *TINY, "neuron_models.network=true",
                     "network.layers.exc.neuron.parameters.theta_plus=0.1 mV", "--out", str(out)]) == 2
    assert "has no parameter 'theta_plus'" in capsys.readouterr().err
    assert not out.exists()


def test_unknown_model_is_named():
    from bioplastic.config import load_config
    from bioplastic.errors import ConfigError
    config = load_config(EXPERIMENT, ["neuron_models.models=[lif, izhikevich_xx]"])
    with pytest.raises(ConfigError, match="unknown model 'izhikevich_xx'"):
        neuron_models.run(config, None)
