"""The rehearsal's podman stand-ins: systemd as PID 1, and nothing left behind.

scripts/rehearse is interrupted (SIGTERM, SIGINT, SIGHUP) once its stand-ins
run; every container and network of that run must be gone afterwards. Needs
root, podman, runc and the stand-in image (tests/rehearsal/build-rootfs.sh
builds it: about 2 minutes the first time, cached afterwards).
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(HERE))
import containers  # noqa: E402
import standins  # noqa: E402

pytestmark = [pytest.mark.vm, pytest.mark.slow, pytest.mark.nix]


@pytest.fixture(scope="module")
def image():
    for tool in ("podman", containers.RUNTIME, "debootstrap", "ssh"):
        if shutil.which(tool) is None and not Path(f"/usr/sbin/{tool}").exists():
            pytest.skip(f"{tool} is not installed (scripts/setup installs podman, runc, debootstrap, openssh-client)")
    if os.geteuid() != 0:
        pytest.skip("rootful podman and debootstrap need root")
    return containers.build_image()


def test_a_stand_in_runs_systemd_sshd_and_nftables_with_no_failed_unit(image, tmp_path):
    data = containers.up(tmp_path, ["probe-a"])
    try:
        name = data["instances"][0]["container"]
        assert containers.exec_(name, "readlink /proc/1/exe").strip() == "/usr/lib/systemd/systemd"
        for _attempt in range(30):
            state = containers.exec_(name, "systemctl is-system-running || true").strip()
            if state in ("running", "degraded"):
                break
            time.sleep(1)
        failed = containers.exec_(name, "systemctl list-units --state=failed --plain --no-legend")
        assert state == "running" and failed.strip() == "", (state, failed)
        assert containers.exec_(name, "systemctl is-active ssh.service").strip() == "active"
        # CAP_NET_ADMIN: the firewall can be loaded.
        containers.exec_(name, "nft add table inet probe && nft list tables")
        mesh = containers.exec_(name, f"ip -6 addr show dev {containers.MESH_IF}")
        assert data["instances"][0]["mesh_address"] in mesh
    finally:
        removed = containers.down(tmp_path)
    assert removed == ["probe-a"]
    assert containers.left(data["label"]) == []


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP])
def test_an_interrupted_rehearsal_removes_every_container_and_network(image, tmp_path, signum):
    host = standins.plan(range(1, 2))[0]["name"]
    proc = subprocess.Popen([sys.executable, str(REPO / "scripts" / "rehearse"), "--state-dir", str(tmp_path),
                             "--phases", "1", "--only", host, "--no-faults"], cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True,
                            env=dict(os.environ, FLEET_LEDGER_PATH=str(tmp_path / "ledger.sqlite")))
    record = tmp_path / "containers.json"
    deadline = time.monotonic() + 300
    label = None
    while time.monotonic() < deadline and proc.poll() is None:
        if record.exists():
            data = json.loads(record.read_text())
            label = data["label"]
            if data["instances"] and containers.left(label):
                break
        time.sleep(0.5)
    assert label and containers.left(label), "the rehearsal never started its stand-in"
    proc.send_signal(signum)
    out = proc.communicate(timeout=300)[0]
    assert proc.returncode == 130, out[-3000:]
    assert "every container this run started is removed" in out
    assert containers.left(label) == [], out[-3000:]
