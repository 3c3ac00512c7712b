"""service_health's launchd branch, run on the controller against scripted `launchctl list` output.

There is no darwin machine here. The stand-in `launchctl` is written into
pytest's tmp_path for the test only; it prints the table `launchctl list`
prints (launchctl(1): "PID<TAB>Status<TAB>Label", PID "-" when the job is not
running, Status the last exit status), one canned sample per call. This
checks the role's parsing and decisions, not launchd itself.
"""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from localplay import run_role  # pytest puts this directory on sys.path

HEALTHY = "PID\tStatus\tLabel\n123\t0\tcom.apple.thing\n-\t0\torg.nixos.activate-system\n456\t0\torg.nixos.nix-daemon\n"
FAILED = "PID\tStatus\tLabel\n123\t0\tcom.apple.thing\n-\t78\torg.nixos.broken-agent\n456\t0\torg.nixos.nix-daemon\n"
LOOP_A = "PID\tStatus\tLabel\n123\t0\tcom.apple.thing\n456\t0\torg.nixos.nix-daemon\n"
LOOP_B = "PID\tStatus\tLabel\n123\t0\tcom.apple.thing\n789\t1\torg.nixos.nix-daemon\n"


def _run(tmp_path: Path, samples: list[str]) -> subprocess.CompletedProcess:
    bindir = tmp_path / "bin"
    bindir.mkdir()
    for i, sample in enumerate(samples):
        (tmp_path / f"sample{i}").write_text(sample)
    counter = tmp_path / "calls"
    fake = bindir / "launchctl"
    fake.write_text(
        "#!/bin/sh\n"
        '[ "$1" = list ] || { echo "unexpected: $*" >&2; exit 64; }\n'
        f'n=$(cat "{counter}" 2>/dev/null || echo 0)\n'
        f'echo $((n + 1)) > "{counter}"\n'
        f'f="{tmp_path}/sample$n"; [ -f "$f" ] || f="{tmp_path}/sample{len(samples) - 1}"\n'
        'cat "$f"\n'
    )
    fake.chmod(0o755)
    return run_role("service_health", tmp_path / "play", {
        "clan_machine_class": "darwin",
        "service_health_launchd_sample_seconds": 0,
    }, path_prefix=bindir)


@pytest.mark.slow
def test_healthy_launchd_passes(tmp_path):
    res = _run(tmp_path, [HEALTHY, HEALTHY])
    assert res.returncode == 0, res.stdout[-3000:]
    assert (tmp_path / "calls").read_text().strip() == "2", "the role should sample launchctl list twice"


@pytest.mark.slow
def test_failed_job_is_named(tmp_path):
    res = _run(tmp_path, [FAILED, FAILED])
    assert res.returncode != 0
    out = " ".join(res.stdout.split())
    assert "local: service_health: expected no failed launchd units/jobs" in out
    assert 'found failed ["org.nixos.broken-agent"]' in out
    assert "launchctl print system/<label>" in out


@pytest.mark.slow
def test_restarted_job_is_a_loop(tmp_path):
    res = _run(tmp_path, [LOOP_A, LOOP_B])
    assert res.returncode != 0
    out = " ".join(res.stdout.split())
    assert 'restart loops ["org.nixos.nix-daemon"]' in out
    assert "found failed []" in out
