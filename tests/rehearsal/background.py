"""The full rehearsal, started when collection ends and run beside the rest of the suite.

scripts/rehearse spends about half its time waiting on real stability windows
and collection intervals, so under `FLEET_REHEARSAL=1` the run is started in
the background as soon as pytest knows it is selected, its tests are moved to
the end of the session, and they read the finished run (tests/rehearsal/test_rehearse.py).
The run is the same `scripts/rehearse` a user starts, with its own state
directory and ledger; nothing about it is shortened. If the session ends
first (an interrupt, `-x`), the run is sent SIGTERM, and scripts/rehearse
removes every container it started.
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
TEST_FILE = "tests/rehearsal/test_rehearse.py"
TOOLS = ("podman", "runc", "debootstrap", "ssh", "faketime")
# The rehearsal's own bound: 5 phases of window + 4 minutes, the stand-ins' boot and the faults, with room.
TIMEOUT = 3600


def why_not() -> str:
    """Why the rehearsal cannot run here ('' when it can)."""
    if os.environ.get("FLEET_REHEARSAL") != "1":
        return "the full rehearsal runs 6 containers for 15-25 minutes: set FLEET_REHEARSAL=1 to run it"
    for tool in TOOLS:
        if shutil.which(tool) is None and not Path("/usr/sbin", tool).exists():
            return (f"{tool} is not installed (scripts/setup installs podman, runc, debootstrap, openssh-client "
                    "and faketime)")
    return ""


@dataclass
class Finished:
    returncode: int
    stdout: str
    stderr: str
    seconds: float


class Run:
    """One scripts/rehearse process with its state directory and ledger."""

    def __init__(self, state: Path | None = None) -> None:
        self.state = state or Path(tempfile.mkdtemp(prefix="fleet-rehearsal-"))
        self.ledger = self.state / "ledger.sqlite"
        self.log = self.state / "rehearse.out"
        self.proc: subprocess.Popen | None = None
        self.started = 0.0
        self.finished: Finished | None = None

    def start(self) -> "Run":
        env = dict(os.environ, FLEET_LEDGER_PATH=str(self.ledger))
        self.started = time.monotonic()
        with open(self.log, "w", encoding="utf-8") as sink:
            self.proc = subprocess.Popen([sys.executable, str(REPO / "scripts" / "rehearse"), "--state-dir",
                                          str(self.state)], cwd=REPO, env=env,
                                         # Not the suite's stdin: ssh in the rehearsal sets it non-blocking,
                                         # and every ansible-playbook a test starts beside it then refuses.
                                         stdin=subprocess.DEVNULL, stdout=sink,
                                         stderr=subprocess.STDOUT, text=True)
        return self

    def wait(self) -> Finished:
        if self.finished is None:
            assert self.proc is not None
            try:
                rc = self.proc.wait(timeout=max(1.0, TIMEOUT - (time.monotonic() - self.started)))
            except subprocess.TimeoutExpired:
                self.stop()
                rc = self.proc.returncode
            out = self.log.read_text(encoding="utf-8", errors="replace")
            self.finished = Finished(rc, out, "", time.monotonic() - self.started)
        return self.finished

    def stop(self) -> None:
        """SIGTERM (scripts/rehearse removes its containers on it), then wait for the clean-up."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=300)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def selected(items: list) -> list:
    return [item for item in items if item.nodeid.startswith(TEST_FILE)]


def order_last(items: list) -> None:
    """Move the rehearsal's tests to the end, so that everything else runs while it does."""
    chosen = selected(items)
    if chosen:
        items[:] = [item for item in items if item not in chosen] + chosen
