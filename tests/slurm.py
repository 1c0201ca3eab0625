"""A real single-node SLURM on this machine, for the sweep tests: munged, slurmctld and slurmd
started by hand (no systemd), bound to 127.0.0.1, with their config, state, sockets and logs
in a private folder; stopped by pid at the end (jobs are cancelled first).

    with local_slurm() as slurm:          # skips the test (pytest.skip) where SLURM cannot run
        os.environ["SLURM_CONF"] = slurm.conf

Needs root and Debian's packages ``slurmctld slurmd slurm-client munge`` (installed with
apt-get when missing, ~15 s). Run on its own: ``python tests/slurm.py`` starts it and
prints ``sinfo`` and ``squeue`` until Ctrl-C (or SIGTERM).
"""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

PACKAGES = ["slurmctld", "slurmd", "slurm-client", "munge"]
BINARIES = ["slurmctld", "slurmd", "sinfo", "sbatch", "squeue", "scancel", "munged"]


class SlurmUnavailable(RuntimeError):
    """SLURM cannot be installed or started here; the message says why."""


def install() -> None:
    """apt-get install SLURM and munge where they are missing (root only)."""
    if all(shutil.which(b) or Path("/usr/sbin", b).exists() for b in BINARIES):
        return
    if os.geteuid() != 0:
        raise SlurmUnavailable("SLURM is not installed and installing it needs root "
                               f"(apt-get install {' '.join(PACKAGES)}).")
    if not shutil.which("apt-get"):
        raise SlurmUnavailable(f"SLURM is not installed and there is no apt-get to install {' '.join(PACKAGES)}.")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    done = subprocess.run(["apt-get", "install", "-y", "-q", *PACKAGES], env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SlurmUnavailable(f"apt-get install {' '.join(PACKAGES)} failed: {done.stderr.strip()[-500:]}")


def _alive(pid: int) -> bool:
    """True while ``pid`` runs; a zombie (killed, not yet reaped) counts as gone."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


class LocalSlurm:
    def __init__(self, root: Path):
        self.root = root
        self.conf = str(root / "slurm.conf")
        self.munge_socket = root / "munge" / "munge.socket"
        self.processes: dict[str, subprocess.Popen] = {}

    @property
    def env(self) -> dict:
        return dict(os.environ, SLURM_CONF=self.conf)

    def run(self, *command, check=True) -> str:
        done = subprocess.run(list(command), env=self.env, capture_output=True, text=True, timeout=30)
        if check and done.returncode != 0:
            raise RuntimeError(f"{' '.join(command)} failed: {done.stderr.strip()}")
        return done.stdout

    def write_config(self) -> None:
        host = socket.gethostname()
        node = subprocess.run(["slurmd", "-C"], capture_output=True, text=True).stdout.splitlines()[0]
        node = " ".join(part for part in node.split() if not part.startswith("UpTime"))
        state, spool = self.root / "state", self.root / "spool"
        state.mkdir()
        spool.mkdir()
        Path(self.conf).write_text("\n".join([
            "ClusterName=bioplastic-test",
            f"SlurmctldHost={host}(127.0.0.1)",
            "SlurmUser=root", "SlurmdUser=root",
            "AuthType=auth/munge", "CredType=cred/munge", f"AuthInfo=socket={self.munge_socket}",
            "MpiDefault=none", "ProctrackType=proctrack/linuxproc", "TaskPlugin=task/none",
            "SelectType=select/cons_tres", "SelectTypeParameters=CR_Core",
            "AccountingStorageType=accounting_storage/none", "JobAcctGatherType=jobacct_gather/none",
            "JobCompType=jobcomp/none", "MailProg=/bin/true", "ReturnToService=2",
            "SlurmctldPort=6817", "SlurmdPort=6818", "KillWait=2", "InactiveLimit=0",
            f"StateSaveLocation={state}", f"SlurmdSpoolDir={spool}",
            f"SlurmctldPidFile={self.root / 'slurmctld.pid'}", f"SlurmdPidFile={self.root / 'slurmd.pid'}",
            f"SlurmctldLogFile={self.root / 'slurmctld.log'}", f"SlurmdLogFile={self.root / 'slurmd.log'}",
            f"{node} NodeAddr=127.0.0.1 State=UNKNOWN",
            f"PartitionName=debug Nodes={host} Default=YES MaxTime=INFINITE State=UP", ""]))

    def start(self) -> None:
        for port in (6817, 6818):
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    raise SlurmUnavailable(f"port {port} is in use: another SLURM runs on this machine.")
        self.write_config()
        munge_dir = self.munge_socket.parent
        munge_dir.mkdir()
        munge_dir.chmod(0o755)              # munged: clients need execute permission on it
        shutil.chown(munge_dir, "munge", "munge")
        self._spawn("munged", ["munged", "-F", f"--socket={self.munge_socket}",
                               f"--pid-file={munge_dir / 'munged.pid'}", f"--log-file={munge_dir / 'munged.log'}",
                               f"--seed-file={munge_dir / 'munged.seed'}"], user="munge")
        self._wait(lambda: self.munge_socket.exists(), "munged to open its socket")
        self._spawn("slurmctld", ["slurmctld", "-D", "-f", self.conf])
        self._wait(lambda: subprocess.run(["scontrol", "ping"], env=self.env, capture_output=True,
                                          text=True).stdout.count("UP") > 0, "slurmctld to answer")
        self._spawn("slurmd", ["slurmd", "-D", "-f", self.conf])
        self._wait(lambda: self.run("sinfo", "-h", "-o", "%t", check=False).strip() == "idle",
                   "the node to be idle in sinfo")

    def _spawn(self, name, command, user=None) -> None:
        log = open(self.root / f"{name}.out", "w")
        self.processes[name] = subprocess.Popen(command, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                                user=user, start_new_session=True)

    def _wait(self, condition, what, timeout=30.0) -> None:
        deadline = time.time() + timeout
        while time.time() < deadline:
            for name, process in self.processes.items():
                if process.poll() is not None:
                    raise SlurmUnavailable(f"{name} exited ({process.returncode}) while waiting for {what}: "
                                           f"{self.logs(name)}")
            try:
                if condition():
                    return
            except (OSError, subprocess.SubprocessError):
                pass
            time.sleep(0.2)
        raise SlurmUnavailable(f"timed out waiting for {what}: {self.logs()}")

    def logs(self, name=None) -> str:
        files = sorted(self.root.glob(f"{name or '*'}*.out")) + sorted(self.root.glob(f"{name or '*'}*.log"))
        return "\n".join(f"--- {f.name}\n{f.read_text()[-2000:]}" for f in files if f.is_file())

    def jobs(self) -> list[str]:
        return self.run("squeue", "-h", "-o", "%i", check=False).split()

    def stop(self) -> None:
        """Cancel every job, then stop slurmd, slurmctld and munged by pid (reaped, pid files removed)."""
        if "slurmctld" in self.processes and self.processes["slurmctld"].poll() is None:
            if self.jobs():
                self.run("scancel", *self.jobs(), check=False)
            deadline = time.time() + 20
            while self.jobs() and time.time() < deadline:
                time.sleep(0.5)
        for name in ("slurmd", "slurmctld", "munged"):
            process = self.processes.pop(name, None)
            if process is None:
                continue
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(timeout=5)
            deadline = time.time() + 5
            while _alive(process.pid) and time.time() < deadline:
                time.sleep(0.1)
        for pid_file in (self.root / "slurmctld.pid", self.root / "slurmd.pid"):
            pid_file.unlink(missing_ok=True)      # slurmctld cannot delete its own


@contextmanager
def local_slurm():
    """Install (if needed), start, yield a :class:`LocalSlurm`, stop. Raises SlurmUnavailable."""
    if os.geteuid() != 0:
        raise SlurmUnavailable("starting slurmctld/slurmd/munged needs root.")
    install()
    root = Path(tempfile.mkdtemp(prefix="bioplastic-slurm-", dir="/tmp"))
    root.chmod(0o755)                              # munged (user munge) must reach its socket folder
    slurm = LocalSlurm(root)
    try:
        slurm.start()
        yield slurm
    finally:
        slurm.stop()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    def _stop(signum, frame):
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, _stop)       # `kill PID` stops the daemons too
    with local_slurm() as cluster:
        print(f"SLURM is up: export SLURM_CONF={cluster.conf}")
        try:
            while True:
                print(cluster.run("sinfo"), cluster.run("squeue"), sep="")
                time.sleep(10)
        except KeyboardInterrupt:
            pass
