"""scripts/collect-evidence: which phases it picks from a ledger written by
real playbook runs, what it runs and logs, and what its installers write.

The ledger is produced by ansible-playbook playbooks/phase1.yml itself (the
deploy through the clan_machine module and the clan contract fake, the real
verification roles on the local connection), never seeded.
"""
from __future__ import annotations

import hashlib
import json
import os
import plistlib
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
COLLECT = REPO / "scripts" / "collect-evidence"
sys.path.insert(0, str(REPO / "tests" / "integration"))
import phase_helpers as H  # noqa: E402
from support import procs  # noqa: E402


def collect(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(COLLECT), *args], capture_output=True, text=True, timeout=900,
                          env=env or dict(os.environ), check=False)


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def deployed(tmp_path_factory):
    """A ledger after a real run of phase1.yml: both phase-1 hosts deployed,
    their verification run (and failed on the local connection: no CA key)."""
    tmp = tmp_path_factory.mktemp("phase1")
    inventory = H.write_inventory(tmp / "inventory")
    (tmp / "flake").mkdir()
    hosts = H.hosts_in_phase(1)
    H.fake_clan_state(tmp / "clan-state", hosts)
    ledger = tmp / "ledger.sqlite"
    # Phase 0 records its decision first, as a user runs it; phase 1 accepts its conditions by name.
    zero = H.run_playbook("phase0.yml", inventory, ledger, tmp, "-e", f"phase0_flake={H.REPO}",
                          "-e", f"phase0_report_dir={tmp / 'reports0'}")
    assert zero.returncode == 0, zero.stdout[-3000:]
    res = H.run_playbook("phase1.yml", inventory, ledger, tmp, "-e", "fleet_gate_host_stable_minutes=10",
                         "-e", '{"fleet_phase0_accepted_conditions": ["nixos_evaluates"]}')
    assert ledger.exists(), res.stdout[-3000:]
    return {"tmp": tmp, "inventory": inventory, "ledger": ledger, "hosts": hosts, "run": res}


@pytest.mark.nix
@pytest.mark.slow
def test_a_deployed_phase_without_go_is_in_progress_and_reading_changes_nothing(deployed):
    ledger = deployed["ledger"]
    with sqlite3.connect(f"file:{ledger}?mode=ro", uri=True) as conn:
        deploys = conn.execute("SELECT host FROM events WHERE kind='deployment' AND ok=1 AND phase=1").fetchall()
    assert sorted(h for (h,) in deploys) == deployed["hosts"], deployed["run"].stdout[-3000:]
    before = digest(ledger)
    res = collect("--ledger", str(ledger), "--list")
    assert res.returncode == 0, res.stderr
    assert res.stdout.splitlines() == [f"1 {' '.join(deployed['hosts'])}"]
    assert digest(ledger) == before
    assert not Path(str(ledger) + "-journal").exists()


@pytest.mark.nix
@pytest.mark.slow
def test_dry_run_names_the_exact_playbook_run_per_phase(deployed):
    res = collect("--ledger", str(deployed["ledger"]), "--dry-run", "-i", str(deployed["inventory"]))
    assert res.returncode == 0, res.stderr
    [line] = res.stdout.splitlines()
    assert f"phase 1 ({', '.join(deployed['hosts'])}; waiting for a GO: {', '.join(deployed['hosts'])}): would run " in line
    assert f"{REPO}/playbooks/phase1.yml --tags verify,gate -i {deployed['inventory']}" in line


@pytest.mark.nix
@pytest.mark.slow
def test_a_failed_phase_run_is_logged_on_one_line_and_fails_the_collector(deployed):
    from fakes import install

    tmp = deployed["tmp"]
    bin_dir = install(tmp / "bin", ["clan", "darwin-rebuild", "ssh"])
    env = dict(os.environ, PATH=f"{bin_dir}:{os.environ['PATH']}", FAKE_CLAN_STATE=str(tmp / "clan-state"),
               ANSIBLE_INVENTORY_CACHE="False")
    log = tmp / "evidence.log"
    res = collect("--ledger", str(deployed["ledger"]), "-i", str(deployed["inventory"]), "--log", str(log),
                  "--output-dir", str(tmp), "--", "-e", f"fleet_flake={tmp / 'flake'}",
                  "-e", f"fleet_reports_dir={tmp / 'reports'}", env=env)
    assert res.returncode == 1, res.stdout + res.stderr
    [line] = log.read_text().splitlines()
    assert f"phase 1 ({', '.join(deployed['hosts'])}; waiting for a GO: {', '.join(deployed['hosts'])}): rc=" in line
    assert " rc=0 " not in line
    assert f"(output: {tmp / 'phase1.log'})" in line
    assert "PLAY RECAP" in (tmp / "phase1.log").read_text()
    assert res.stdout.strip() == line


def test_an_empty_ledger_has_no_deployed_phase(tmp_path):
    ledger = tmp_path / "ledger.sqlite"
    sys.path.insert(0, str(REPO / ".collections"))
    from ansible_collections.fleet.migration.plugins.module_utils import ledger as ledger_mod

    ledger_mod.Ledger(str(ledger)).close()  # the schema only, no evidence
    res = collect("--ledger", str(ledger))
    assert res.returncode == 0
    assert (f"no deployed phase in {ledger}: no host has a successful deployment, so there is nothing to verify"
            in res.stdout)


def test_a_missing_ledger_is_an_error_that_says_what_to_do(tmp_path):
    res = collect("--ledger", str(tmp_path / "none.sqlite"))
    assert res.returncode == 2
    assert (f"collect-evidence: expected the ledger at {tmp_path / 'none.sqlite'}; found no file. Deploy a phase "
            "first (ansible-playbook playbooks/phase1.yml) or pass --ledger / FLEET_LEDGER_PATH.") in res.stderr
    assert not (tmp_path / "none.sqlite").exists()


def test_a_sqlite_file_that_is_not_a_ledger_is_refused_untouched(tmp_path):
    other = tmp_path / "other.sqlite"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE t (x)")
    before = digest(other)
    res = collect("--ledger", str(other), "--list")
    assert res.returncode == 2
    assert f"collect-evidence: expected a stability ledger (table events) at {other}; found no such table" in res.stderr
    assert digest(other) == before


def test_install_dry_run_names_the_systemd_units_and_writes_nothing(tmp_path):
    res = collect("--install", "systemd", "--dry-run", "--unit-dir", str(tmp_path / "units"))
    assert res.returncode == 0, res.stderr
    assert res.stdout.splitlines() == [
        f"collect-evidence: would install {tmp_path / 'units' / 'fleet-evidence.service'}",
        f"collect-evidence: would install {tmp_path / 'units' / 'fleet-evidence.timer'}",
        "collect-evidence: would run systemctl --user daemon-reload",
        "collect-evidence: would run systemctl --user enable --now fleet-evidence.timer",
    ]
    assert not (tmp_path / "units").exists()


def test_installed_systemd_units_are_valid(tmp_path):
    units = tmp_path / "units"
    res = collect("--install", "systemd", "--no-enable", "--unit-dir", str(units), "--ledger", str(tmp_path / "l.sqlite"))
    assert res.returncode == 0, res.stderr
    service = (units / "fleet-evidence.service").read_text()
    timer = (units / "fleet-evidence.timer").read_text()
    assert "@" not in service.replace("fleet-evidence", "") and "@" not in timer
    assert f"ExecStart={REPO}/scripts/collect-evidence --log {REPO}/.cache/evidence.log" in service
    assert f"Environment=FLEET_LEDGER_PATH={tmp_path / 'l.sqlite'}" in service
    assert "OnCalendar=daily" in timer and "Persistent=true" in timer
    if shutil.which("systemd-analyze"):
        # --man=no: no man pages here; verify parses every directive and checks ExecStart exists.
        ver = subprocess.run(["systemd-analyze", "verify", "--man=no", str(units / "fleet-evidence.service"),
                              str(units / "fleet-evidence.timer")], capture_output=True, text=True, check=False)
        assert ver.returncode == 0 and "fleet-evidence" not in ver.stderr, ver.stderr


def test_installed_launchd_agent_is_a_valid_plist_running_the_collector(tmp_path):
    res = collect("--install", "launchd", "--no-enable", "--unit-dir", str(tmp_path), "--interval", "3600",
                  "--ledger", str(tmp_path / "l.sqlite"))
    assert res.returncode == 0, res.stderr
    path = tmp_path / "org.fleet.migration.evidence.plist"
    assert res.stdout.splitlines()[0] == f"collect-evidence: installing {path}"
    assert res.stdout.splitlines()[1].startswith("collect-evidence: would run launchctl bootstrap gui/")
    with open(path, "rb") as handle:
        plist = plistlib.load(handle)
    assert plist["Label"] == "org.fleet.migration.evidence" == path.stem
    assert plist["ProgramArguments"][0] == str(COLLECT) and os.access(plist["ProgramArguments"][0], os.X_OK)
    assert plist["StartInterval"] == 3600 and plist["WorkingDirectory"] == str(REPO)
    assert plist["EnvironmentVariables"]["FLEET_LEDGER_PATH"] == str(tmp_path / "l.sqlite")
    assert "@" not in json.dumps(plist)
    # The shipped template is itself a valid plist.
    with open(REPO / "contrib" / "schedule" / "launchd" / path.name, "rb") as handle:
        assert plistlib.load(handle)["Label"] == plist["Label"]


def test_the_ci_workflow_runs_the_collector_on_a_schedule_on_a_self_hosted_runner():
    import yaml

    workflow = yaml.safe_load((REPO / ".github" / "workflows" / "evidence.yml").read_text())
    assert workflow[True]["schedule"][0]["cron"]  # YAML 1.1 reads `on` as True
    job = workflow["jobs"]["collect"]
    assert "self-hosted" in job["runs-on"]
    assert any("scripts/collect-evidence" in step.get("run", "") for step in job["steps"])


# ---- scheduling: --jobs and --timeout, against a stand-in ansible-playbook ----
# The collector runs the ansible-playbook beside its Python (a virtualenv's
# bin/); a bin/ holding a link to this Python and a script of that name puts a
# stand-in there. It only logs when it ran, so the ledger below is the
# collector's input (which phases are deployed), not evidence any test judges.

FAKE_PLAYBOOK = """#!/bin/sh
# stand-in ansible-playbook: $1 is playbooks/phaseN.yml
phase=$(basename "$1" .yml)
echo "start $phase $(date +%s.%N)" >> "$RUNS"
echo "$phase $FLEET_RUN_ID" >> "$RUNS.ids"
readlink /proc/self/fd/0 > "$RUNS.stdin.$phase"
if [ -n "$HANG" ] && [ "$phase" = "$HANG" ]; then
  sleep 1000 &
  echo $! > "$RUNS.child"
  sleep 1000
fi
sleep "${SECONDS_PER_RUN:-0}"
echo "end $phase $(date +%s.%N)" >> "$RUNS"
"""


def _two_phase_ledger(path: Path) -> Path:
    sys.path.insert(0, str(REPO / ".collections"))
    from ansible_collections.fleet.migration.plugins.module_utils import ledger as ledger_mod

    with ledger_mod.Ledger(str(path)) as led:
        for phase in (1, 2):
            host = H.hosts_in_phase(phase)[0]
            led.record("deployment", host, "deploy", True, phase=phase, details="collector input")
    return path


def _stand_in_bin(tmp: Path) -> Path:
    bin_dir = tmp / "venv-bin"
    bin_dir.mkdir()
    (bin_dir / "python").symlink_to(sys.executable)
    script = bin_dir / "ansible-playbook"
    script.write_text(FAKE_PLAYBOOK)
    script.chmod(0o755)
    return bin_dir / "python"


def _spans(runs: Path) -> dict[str, tuple[float, float]]:
    marks: dict[str, dict[str, float]] = {}
    for line in runs.read_text().splitlines():
        what, phase, at = line.split()
        marks.setdefault(phase, {})[what] = float(at)
    return {phase: (m["start"], m.get("end", float("inf"))) for phase, m in marks.items()}


@pytest.mark.parametrize("jobs", [1, 2])
def test_jobs_runs_that_many_phases_at_once(tmp_path, jobs):
    ledger = _two_phase_ledger(tmp_path / "ledger.sqlite")
    python, runs = _stand_in_bin(tmp_path), tmp_path / "runs"
    env = dict(os.environ, RUNS=str(runs), SECONDS_PER_RUN="2")
    res = subprocess.run([str(python), str(COLLECT), "--ledger", str(ledger), "--jobs", str(jobs)],
                         capture_output=True, text=True, timeout=120, env=env, check=False)
    assert res.returncode == 0, res.stdout + res.stderr
    spans = _spans(runs)
    assert sorted(spans) == ["phase1", "phase2"]
    (s1, e1), (s2, e2) = spans["phase1"], spans["phase2"]
    overlap = min(e1, e2) - max(s1, s2)
    assert (overlap > 1) if jobs == 2 else (overlap < 0), spans
    assert len(res.stdout.splitlines()) == 2 and all(" rc=0 " in line for line in res.stdout.splitlines())
    # Each phase's run has its own run id (fleet_run_id), which every row it records carries.
    ids = dict(line.split() for line in (tmp_path / "runs.ids").read_text().splitlines())
    assert ids["phase1"].startswith("collect-evidence-") and ids["phase1"].endswith("-phase1")
    assert ids["phase2"] == ids["phase1"][: -len("phase1")] + "phase2"


def test_each_run_has_a_stdin_of_its_own_not_the_callers(tmp_path):
    """The caller's stdin (a CI runner's pipe) is shared by all who inherit it, and ssh sets it
    non-blocking; Ansible then refuses to start. Each phase run reads /dev/null instead."""
    ledger = _two_phase_ledger(tmp_path / "ledger.sqlite")
    python, runs = _stand_in_bin(tmp_path), tmp_path / "runs"
    res = subprocess.run([str(python), str(COLLECT), "--ledger", str(ledger)], stdin=subprocess.PIPE,
                         capture_output=True, text=True, timeout=120, env=dict(os.environ, RUNS=str(runs)),
                         check=False)
    assert res.returncode == 0, res.stdout + res.stderr
    for phase in ("phase1", "phase2"):
        assert Path(f"{runs}.stdin.{phase}").read_text().strip() == "/dev/null", phase


def test_a_run_that_hangs_is_stopped_with_every_process_it_started(tmp_path):
    ledger = _two_phase_ledger(tmp_path / "ledger.sqlite")
    python, runs = _stand_in_bin(tmp_path), tmp_path / "runs"
    env = dict(os.environ, RUNS=str(runs), HANG="phase1")
    res = subprocess.run([str(python), str(COLLECT), "--ledger", str(ledger), "--timeout", "2", "--jobs", "2",
                          "--output-dir", str(tmp_path)],
                         capture_output=True, text=True, timeout=120, env=env, check=False)
    assert res.returncode == 1, res.stdout + res.stderr
    [hung] = [line for line in res.stdout.splitlines() if line.split()[2] == "1"]
    hosts = H.hosts_in_phase(1)[0]
    assert (f"phase 1 ({hosts}; waiting for a GO: {hosts}): rc=-15 " in hung
            and " stopped: expected the run to end within --timeout 2s; found it still running, so it and every "
            f"process it started were stopped. Look for the host or tool that hangs in {tmp_path / 'phase1.log'};"
            in hung), hung
    [done] = [line for line in res.stdout.splitlines() if line.split()[2] == "2"]
    assert " rc=0 " in done
    child = int((tmp_path / "runs.child").read_text())
    assert procs.gone(child), f"the hung run's child {child} is still running"


@pytest.mark.parametrize("flag,value", [("--jobs", "0"), ("--jobs", "-1"), ("--timeout", "0"),
                                        ("--timeout", "-5"), ("--timeout", "nan"), ("--timeout", "inf")])
def test_jobs_and_timeout_refuse_values_that_would_disable_them(tmp_path, flag, value):
    ledger = _two_phase_ledger(tmp_path / "ledger.sqlite")
    res = collect("--ledger", str(ledger), flag, value)
    assert res.returncode == 2
    expected = ("expected a whole number of at least 1" if flag == "--jobs"
                else "expected a finite number of seconds above 0")
    assert f"argument {flag}: {expected}, found {value}" in res.stderr
