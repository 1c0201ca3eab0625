"""The command line: a real (tiny) experiment end to end, and bad input stopped early."""
import json

import numpy as np
import pytest

from bioplastic import cli
from bioplastic.data.idx import write_idx
from bioplastic.studies import supervised

from conftest import REPO

EXPERIMENT = str(REPO / "experiments" / "supervised_stdp_alltd.yaml")
TINY = ["device.name=runtime", "device.target=numpy", "seeds=[0,1]", "data.n_train=24", "data.n_test=30",
        "data.verify=false", "network.layers.exc.n_per_class=2", "protocol.eval_every=12",
        "protocol.image_duration=100 ms",
        "protocol.rest_duration=50 ms", "supervised.random_class_sets=0",
        "network.projections.input_to_exc.plasticity.parameters.A_pre=0.02"]


def write_bar_digits(tmp_path, monkeypatch):
    """MNIST-format files whose 'digits' 0, 1, 2 are horizontal bands in ``tmp_path/data``, where the
    loaders look (offline)."""
    rng = np.random.default_rng(0)
    root = tmp_path / "data" / "mnist"
    root.mkdir(parents=True)
    for prefix, n in (("train", 120), ("t10k", 60)):
        labels = np.arange(n) % 3
        images = ((rng.random((n, 28, 28)) < 0.03) * 100).astype(np.uint8)
        for k, c in enumerate(labels):
            images[k, 3 + 9 * c: 9 + 9 * c, 4:24] = 255
        write_idx(root / f"{prefix}-images-idx3-ubyte.gz", images)
        write_idx(root / f"{prefix}-labels-idx1-ubyte.gz", labels.astype(np.uint8))
    monkeypatch.setenv("BIOPLASTIC_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("BIOPLASTIC_OFFLINE", "1")
    return tmp_path


@pytest.fixture
def bar_digits(tmp_path, monkeypatch):
    """MNIST-format files whose 'digits' 0, 1, 2 are horizontal bands: easy to learn, fast to run."""
    return write_bar_digits(tmp_path, monkeypatch)


def test_run_writes_complete_results(bar_digits, capsys):
    out = bar_digits / "run"
    assert cli.main(["run", EXPERIMENT, *TINY, "--out", str(out)]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["n_train_images"] == [0, 12, 24]
    assert set(metrics["variants"]) == {"adaptive_threshold", "no_adaptive_threshold"}
    assert len(metrics["accuracy_mean"]) == len(metrics["accuracy_std"]) == 3
    assert metrics["accuracy_mean"][-1] >= 90            # bands are trivially separable once learned
    provenance = json.loads((out / "provenance.json").read_text())
    assert provenance["status"] == "complete" and provenance["versions"]["brian2"].startswith("2.10")
    assert provenance["versions"]["cpu"] and provenance["versions"]["cpu_count"] >= 1  # float32 rounding follows it
    for name in ("config.yaml", "learning_curve.png", "weights_adaptive_threshold.png"):
        assert (out / name).stat().st_size > 0
    assert "over the curve" in capsys.readouterr().out
    assert "over the curve" in (out / "summary.md").read_text()           # the printed summary, kept
    assert provenance["flags"]["quick"] is False


def test_a_run_folders_config_reproduces_the_run(bar_digits):
    """`bioplastic run DIR/config.yaml`: the resolved config alone gives the same metrics (same
    seeds, same device), with no override repeated."""
    first, second = bar_digits / "first", bar_digits / "second"
    small = [o for o in TINY if not o.startswith(("data.n_t", "seeds"))] + [
        "seeds=[0]", "data.n_train=12", "data.n_test=15"]
    assert cli.main(["run", EXPERIMENT, *small, "--out", str(first)]) == 0
    assert cli.main(["run", str(first / "config.yaml"), "--out", str(second)]) == 0
    a, b = (json.loads((d / "metrics.json").read_text()) for d in (first, second))
    assert a["n_train_images"] == b["n_train_images"] == [0, 12]

    def measured(node):           # everything but the wall times
        if isinstance(node, dict):
            return {k: measured(v) for k, v in node.items() if "wall_time" not in k}
        return [measured(v) for v in node] if isinstance(node, list) else node
    assert measured(a["variants"]) == measured(b["variants"])


def test_interrupted_run_leaves_no_complete_looking_directory(bar_digits, monkeypatch):
    def interrupted(config, out_dir):
        (out_dir / "metrics.json").write_text("{}")
        raise KeyboardInterrupt
    monkeypatch.setattr(supervised, "run", interrupted)
    out = bar_digits / "run"
    assert cli.main(["run", EXPERIMENT, *TINY, "--out", str(out)]) == 130
    assert not out.exists()
    partial = json.loads((bar_digits / "run.partial" / "provenance.json").read_text())
    assert partial["status"] == "interrupted" and partial["error"].startswith("KeyboardInterrupt")


@pytest.mark.parametrize("signame", ["SIGTERM", "SIGINT"])
def test_sigterm_ends_a_run_like_ctrl_c(bar_digits, signame):
    """`kill <pid>` or `kill -INT <pid>` mid-run: exit status 130, the `interrupted:` message,
    provenance says interrupted. The run is started as a shell starts a background job (`cmd &`:
    SIGINT ignored), which Brian2's own SIGINT handler once turned into a TypeError and a run
    marked failed."""
    import os
    import signal
    import subprocess
    import sys
    import time
    out = bar_digits / "killed"
    long_run = [o for o in TINY if not o.startswith("data.n_train")] + ["data.n_train=120",
                                                                         "protocol.image_duration=2000 ms"]
    process = subprocess.Popen([sys.executable, "-m", "bioplastic.cli", "run", EXPERIMENT, *long_run,
                                "--out", str(out)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=dict(os.environ),
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
    provenance = bar_digits / "killed.partial" / "provenance.json"
    deadline = time.time() + 120
    while not provenance.exists() and time.time() < deadline and process.poll() is None:
        time.sleep(0.2)
    time.sleep(2)
    # A signal whose KeyboardInterrupt lands inside a finaliser (__del__, weakref callback) is
    # swallowed by Python; seen once under heavy load. Send it again, as a scheduler would.
    for _ in range(12):
        process.send_signal(getattr(signal, signame))
        try:
            _, err = process.communicate(timeout=10)
            break
        except subprocess.TimeoutExpired:
            continue
    assert process.returncode == 130, err[-2000:]
    assert "interrupted:" in err
    assert json.loads(provenance.read_text())["status"] == "interrupted" and not out.exists()


@pytest.mark.standalone
def test_sigint_during_compilation_stops_the_run_and_its_compilers(bar_digits):
    """`kill -INT <pid>` while the C++ project compiles: rc 130 with the CLI's message (Brian2's
    os.system would ignore it), no make or compiler left running, no build folder left behind."""
    import os
    import signal
    import subprocess
    import sys
    import time
    tmp = bar_digits / "tmp"
    tmp.mkdir()
    err_path = bar_digits / "stderr.txt"
    standalone = [o for o in TINY if not o.startswith("device.")] + ["device.name=cpp_standalone"]
    with open(err_path, "w") as err_file:
        process = subprocess.Popen([sys.executable, "-m", "bioplastic.cli", "run", EXPERIMENT, *standalone,
                                    "--out", str(bar_digits / "run")], stdout=subprocess.DEVNULL, stderr=err_file,
                                   env={**os.environ, "TMPDIR": str(tmp)})
        deadline = time.time() + 180
        while "compiling" not in err_path.read_text() and time.time() < deadline and process.poll() is None:
            time.sleep(0.1)
        assert process.poll() is None, "the run ended before its compilation was seen"
        time.sleep(1.0)
        process.send_signal(signal.SIGINT)
        process.wait(timeout=60)
    err = err_path.read_text()
    assert process.returncode == 130, err[-2000:]
    assert "interrupted:" in err and "Brian 2 encountered an unexpected error" not in err

    deadline = time.time() + 10
    while _processes_working_in(tmp) and time.time() < deadline:
        time.sleep(0.2)
    assert not _processes_working_in(tmp), "make or a compiler is still running in the build folder"
    assert not list(tmp.glob("bioplastic_*")), "the temporary build folder was left behind"


def _processes_working_in(folder) -> dict:
    """pid -> command name of the processes whose working directory is inside ``folder``."""
    import os
    found = {}
    for proc in os.listdir("/proc"):
        try:
            if proc.isdigit() and os.readlink(f"/proc/{proc}/cwd").startswith(str(folder)):
                found[int(proc)] = open(f"/proc/{proc}/comm").read().strip()
        except OSError:
            pass
    return found


@pytest.mark.standalone
def test_sigkill_during_the_simulation_ends_the_binary_and_the_next_run_removes_the_build_folder(bar_digits):
    """A SIGKILLed run cannot clean up: the kernel ends its simulation binary (PR_SET_PDEATHSIG),
    and the next bioplastic process that makes a scratch folder there removes the dead one's."""
    import os
    import signal
    import subprocess
    import sys
    import time

    from bioplastic.devices import scratch_dir
    tmp = bar_digits / "tmp"
    tmp.mkdir()
    long_run = [o for o in TINY if not o.startswith(("device.", "protocol."))] + [
        "device.name=cpp_standalone", "protocol.image_duration=20000 ms", "protocol.rest_duration=0 ms",
        "protocol.eval_every=24"]
    process = subprocess.Popen([sys.executable, "-m", "bioplastic.cli", "run", EXPERIMENT, *long_run,
                                "--out", str(bar_digits / "run")], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, env={**os.environ, "TMPDIR": str(tmp)})
    deadline = time.time() + 240
    while "main" not in _processes_working_in(tmp).values() and time.time() < deadline and process.poll() is None:
        time.sleep(0.1)
    assert "main" in _processes_working_in(tmp).values(), "the simulation binary was not seen running"
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    deadline = time.time() + 10
    while _processes_working_in(tmp) and time.time() < deadline:
        time.sleep(0.2)
    assert not _processes_working_in(tmp), "the simulation binary outlived the killed run"
    left = [p for p in tmp.glob("bioplastic_*") if p.is_dir()]
    assert left and all(f"_pid{process.pid}_" in p.name for p in left)
    mine = scratch_dir("bioplastic_next_", tmp)
    assert [p.name for p in tmp.glob("bioplastic_*")] == [os.path.basename(mine)]


def test_crashed_run_is_marked_failed_and_a_refused_one_leaves_no_folder(bar_digits, monkeypatch):
    from bioplastic.errors import ConfigError

    def crashes(config, out_dir):
        raise RuntimeError("boom")

    def refuses(config, out_dir):
        raise ConfigError("bad value")
    monkeypatch.setattr(supervised, "run", crashes)
    with pytest.raises(RuntimeError):
        cli.main(["run", EXPERIMENT, *TINY, "--out", str(bar_digits / "crash")])
    provenance = json.loads((bar_digits / "crash.partial" / "provenance.json").read_text())
    assert provenance["status"] == "failed" and "boom" in provenance["error"]
    monkeypatch.setattr(supervised, "run", refuses)
    assert cli.main(["run", EXPERIMENT, *TINY, "--out", str(bar_digits / "refused")]) == 2
    assert not (bar_digits / "refused.partial").exists() and not (bar_digits / "refused").exists()


@pytest.mark.parametrize("override, message", [
    ("network.layers.exc.n_per_clas=3", "Did you mean 'n_per_class'"),
    ("data.classes=[0,1,12]", "class 12 is not in mnist"),
    ("network.layers.exc.neuron.parameters.tau_m=0 ms", "tau_m must be > 0"),
    ("network.layers.exc.neuron.equations.v=dv/dt = (E_rest - v)/tau_m + I_ext : volt", "nconsistent units"),
    # The old single-shape keys name their new place.
    ("network.n_per_class=3", "it is now network.layers.<layer>.n_per_class"),
    ("network.hidden.n=16", "a layer of its own under network.layers"),
    # Layers and projections that do not fit together.
    ("network.projections.input_to_exc.target=ecx", "no layer named 'ecx'. Did you mean 'exc'?"),
    ("network.layers.orphan.size=4", "'orphan' receive no input"),
    ("network.layers.exc.size=6", "give exactly one of size"),
    (["network.layers.exc.n_per_class=null", "network.layers.exc.size=6"],
     "the 'supervised' rule follows the class segments"),
    (["network.layers.exc.n_per_class=null", "network.layers.exc.size=6",
      "network.projections.input_to_exc.plasticity.rule=stdp"], "the segment readout needs class segments"),
    ("network.readout.kind=votes", "network.readout.kind must be one of segments, label_assignment"),
    # A network that cannot fit in memory is refused from its size, before anything is allocated.
    ("network.layers.exc.n_per_class=100000", "GiB of memory available"),
])
def test_bad_input_fails_before_any_simulation(bar_digits, monkeypatch, capsys, override, message):
    monkeypatch.setattr(supervised, "train_and_test", lambda task: pytest.fail("simulation started"))
    out = bar_digits / "run"
    overrides = override if isinstance(override, list) else [override]
    assert cli.main(["run", EXPERIMENT, *TINY, *overrides, "--out", str(out)]) == 2
    assert message in capsys.readouterr().err
    assert not out.exists() and not out.with_name("run.partial").exists()


def test_corrupt_data_file_is_reported(bar_digits, capsys):
    (bar_digits / "data" / "mnist" / "t10k-images-idx3-ubyte.gz").write_bytes(b"not a gzip file")
    assert cli.main(["run", EXPERIMENT, *TINY, "--out", str(bar_digits / "run")]) == 2
    assert "corrupt" in capsys.readouterr().err


def test_models_command_lists_and_describes(capsys):
    assert cli.main(["models"]) == 0
    listing = capsys.readouterr().out
    assert "adaptive_lif" in listing and "supervised" in listing
    assert cli.main(["models", "adaptive_lif"]) == 0
    assert "v > v_thresh + theta" in capsys.readouterr().out


def test_an_interrupted_run_of_another_config_is_not_discarded_silently(bar_digits, monkeypatch):
    def interrupted(config, out_dir):
        raise KeyboardInterrupt
    monkeypatch.setattr(supervised, "run", interrupted)
    out = bar_digits / "sweep"
    assert cli.main(["run", EXPERIMENT, *TINY, "--out", str(out)]) == 130
    kept = (out.with_name("sweep.partial") / "config.yaml").read_text()
    assert cli.main(["run", EXPERIMENT, *TINY, "seeds=[3]", "--out", str(out)]) == 2   # refused, nothing touched
    assert (out.with_name("sweep.partial") / "config.yaml").read_text() == kept
    assert cli.main(["run", EXPERIMENT, *TINY, "seeds=[3]", "--out", str(out), "--overwrite"]) == 130   # replaced
    assert "seeds: [3]" in (out.with_name("sweep.partial") / "config.yaml").read_text()


def test_help_is_plain_text_with_examples_and_the_data_environment(capsys):
    for argv in (["--help"], ["run", "--help"]):
        with pytest.raises(SystemExit):
            cli.main(argv)
        text = capsys.readouterr().out
        assert "``" not in text and ("e.g." in text or "examples:" in text)
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    text = capsys.readouterr().out
    assert "BIOPLASTIC_DATA_DIR" in text and "BIOPLASTIC_OFFLINE" in text and "bioplastic run " in text


def test_every_option_of_every_command_has_help_and_every_valued_option_an_example():
    import argparse
    parser = cli.build_parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices
    assert set(commands) >= {"run", "sweep", "plot", "report", "merge", "config", "models"}
    for name, command in commands.items():
        for action in command._actions:
            if isinstance(action, argparse._HelpAction):
                continue
            where = f"bioplastic {name} {'/'.join(action.option_strings) or action.dest}"
            assert action.help, f"{where} has no help"
            takes_value = action.option_strings and action.nargs != 0 and action.dest != "help"
            if takes_value:
                assert "e.g." in action.help or "(default" in action.help, f"{where} has no example"


def test_a_resumed_run_may_change_its_workers_and_keeps_the_provenance_of_every_attempt(bar_digits, monkeypatch):
    """Session 1 runs with workers=1 and is killed without a word (its provenance still says
    running); session 2 resumes it with workers=2 (where tasks run does not change what they
    compute) and is interrupted; session 3 finishes it. Every attempt is in provenance."""
    real_run = supervised.run

    def interrupted(config, out_dir):
        (out_dir / "checkpoint.npz").write_bytes(b"work done so far")
        raise KeyboardInterrupt
    monkeypatch.setattr(supervised, "run", interrupted)
    out = bar_digits / "long"
    partial = out.with_name("long.partial")
    assert cli.main(["run", EXPERIMENT, *TINY, "workers=1", "--out", str(out)]) == 130
    first = json.loads((partial / "provenance.json").read_text())
    (partial / "provenance.json").write_text(json.dumps(dict(first, status="running")))     # as after SIGKILL
    assert cli.main(["run", EXPERIMENT, *TINY, "workers=2", "--out", str(out)]) == 130
    second = json.loads((partial / "provenance.json").read_text())
    assert second["resumed_with_change"] == "workers: 1 -> 2"
    [killed] = second["earlier_attempts"]
    assert killed["status"] == "killed" and killed["started"] == first["started"]
    assert killed["last_file_written"] >= first["started"] and killed["flags"]["overrides"][-1] == "workers=1"
    assert "workers: 2" in (partial / "config.yaml").read_text()
    # Anything else that changes the computation is still refused, whatever the workers.
    assert cli.main(["run", EXPERIMENT, *TINY, "workers=1", "seeds=[3]", "--out", str(out)]) == 2
    monkeypatch.setattr(supervised, "run", real_run)
    assert cli.main(["run", EXPERIMENT, *TINY, "--out", str(out)]) == 0
    done = json.loads((out / "provenance.json").read_text())
    assert done["status"] == "complete" and done["resumed_with_change"] == "workers: 2 -> 1"
    assert [a["status"] for a in done["earlier_attempts"]] == ["killed", "interrupted"]
    assert done["earlier_attempts"][1]["started"] == second["started"]


def test_a_second_run_into_the_same_folder_is_refused_while_the_first_writes_it(bar_digits, monkeypatch, capsys):
    """Two processes in one ``.partial`` folder would run the same tasks and overwrite each
    other's checkpoints: the second is refused at once (flock: another open file conflicts within
    one process too), the first finishes untouched, and the lock goes with it."""
    real_run = supervised.run
    out = bar_digits / "shared"
    lock = out.with_name("shared.lock")
    second = {}

    def first_run(config, out_dir):
        assert "pid " in lock.read_text()
        second["rc"] = cli.main(["run", EXPERIMENT, *TINY, "--out", str(out)])
        second["err"] = capsys.readouterr().err
        second["config"] = (out_dir / "config.yaml").read_text()
        return real_run(config, out_dir)
    monkeypatch.setattr(supervised, "run", first_run)
    assert cli.main(["run", EXPERIMENT, *TINY, "--out", str(out)]) == 0
    assert second["rc"] == 2 and "is being written by another bioplastic process now (pid " in second["err"]
    assert "choose another --out" in second["err"]
    assert (out / "metrics.json").exists() and (out / "config.yaml").read_text() == second["config"]
    assert not lock.exists() and not out.with_name("shared.partial").exists()


def test_extend_is_refused_for_a_study_whose_finished_tasks_would_all_run_again(bar_digits, capsys):
    out = bar_digits / "done"
    assert cli.main(["run", EXPERIMENT, *TINY, "--out", str(out)]) == 0
    assert not (out / ".tasks").exists()                # nothing could extend it: its task results went
    assert cli.main(["run", EXPERIMENT, *TINY, "--out", str(out)]) == 2
    assert "--extend" not in capsys.readouterr().err    # not offered where it cannot work
    assert cli.main(["run", EXPERIMENT, *TINY, "seeds=[0,1,2]", "--out", str(out), "--extend"]) == 2
    assert "this study cannot extend a finished run" in capsys.readouterr().err
    assert not out.with_name("done.partial").exists() and (out / "metrics.json").exists()
    with pytest.raises(SystemExit):
        cli.main(["run", EXPERIMENT, "--out", str(out), "--extend", "--overwrite"])
