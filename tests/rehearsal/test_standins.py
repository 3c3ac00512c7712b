"""The rehearsal's stand-in plan, trust files and inventory layer, without containers."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(HERE))
import standins  # noqa: E402
from support import nix as nixsupport  # noqa: E402

MACHINES = {
    "srv-a": {"tags": ["server", "phase1", "nixos"], "machineClass": "nixos"},
    "srv-b": {"tags": ["server", "phase1"], "machineClass": "nixos"},
    "mac-a": {"tags": ["workstation", "phase2", "darwin"], "machineClass": "darwin"},
    "later": {"tags": ["server", "phase6"], "machineClass": "nixos"},
    "test": {"tags": ["test", "phase0"], "machineClass": "nixos"},
}


def test_plan_takes_every_machine_of_the_phases_ordered_by_phase():
    plan = standins.plan(range(1, 6), machines=MACHINES)
    assert [(m["name"], m["phase"], m["class"]) for m in plan] == [
        ("srv-a", 1, "nixos"), ("srv-b", 1, "nixos"), ("mac-a", 2, "darwin")]


def test_plan_refuses_an_unknown_subset_naming_the_choices():
    with pytest.raises(SystemExit) as err:
        standins.plan(range(1, 6), ["srv-a", "nope"], machines=MACHINES)
    assert str(err.value) == ("standins: --only names nope, which are not machines of phases 1-5 in the clan "
                              "inventory (modules/clan/inventory/machines.nix); choose from mac-a, srv-a, srv-b")


@pytest.mark.nix
def test_plan_of_the_real_fleet_has_a_stand_in_per_machine_of_phases_1_to_5():
    real = nixsupport.inventory()
    expected = sorted(n for n, m in real.items() if standins.phase_of(m["tags"]) in range(1, 6))
    assert sorted(m["name"] for m in standins.plan(range(1, 6))) == expected
    assert len(expected) >= 6


def test_inventory_layer_overrides_connection_mesh_and_windows_per_host(tmp_path):
    plan = standins.plan(range(1, 6), machines=MACHINES)
    instances = [{"name": m["name"], "ssh_host": f"10.77.1.{11 + i}", "port": 22, "mesh_address": f"fd00::{i + 1}",
                  "public_address": f"fd01::{i + 1}"} for i, m in enumerate(plan)]
    ca = tmp_path / "ca" / "fleet-ca"
    ssh = {"ssh_config": str(tmp_path / "ssh" / "config"), "bin": str(tmp_path / "bin")}
    path = standins.write_inventory(tmp_path, plan, instances, ca, "/id", ssh)
    hosts = json.loads(path.read_text().split("\n", 1)[1])["all"]["hosts"]
    assert hosts["srv-a"]["ansible_host"] == "10.77.1.11" and hosts["mac-a"]["ansible_port"] == 22
    assert hosts["srv-a"]["fleet_mesh_address"] == "fd00::1" and hosts["srv-a"]["fleet_public_address"] == "fd01::1"
    assert hosts["mac-a"]["fleet_host_flake"] == "/etc/fleet/flake"
    for entry in hosts.values():
        # The firewall is probed from the controller, as in production (no proxy in between).
        assert "firewall_verify_probe_from" not in entry
        assert entry["fleet_stand_in"] is True and entry["fleet_gate_accept_stand_ins"] is True
        assert entry["fleet_gate_host_stable_minutes"] == standins.WINDOWS["fleet_gate_host_stable_minutes"]
        assert entry["fleet_ssh_ca_public_key"] == str(ca) + ".pub"


def test_ssh_trust_accepts_only_the_rehearsal_ca(tmp_path):
    ca = standins.make_ca(tmp_path)
    ssh = standins.write_ssh_trust(tmp_path, ca, "/id", standins.host_pattern("10.77.1.0/24"))
    known = Path(ssh["known_hosts"]).read_text()
    assert known.startswith("@cert-authority 10.77.1.* ssh-ed25519 ") and known.count("\n") == 1
    config = Path(ssh["ssh_config"]).read_text()
    assert "StrictHostKeyChecking yes" in config and f"UserKnownHostsFile {ssh['known_hosts']}" in config
    wrapper = (tmp_path / "bin" / "ssh").read_text()
    assert f"-F {ssh['ssh_config']}" in wrapper and str(tmp_path / "bin" / "ssh") not in wrapper.split("exec ")[1]


def test_systems_are_two_store_paths_named_for_the_host_and_class():
    pre, new = standins.systems("mac-a", "darwin")
    assert pre.startswith("/nix/store/") and pre.endswith("-darwin-system-mac-a-pre-migration")
    assert new.endswith("-darwin-system-mac-a-migrated") and len(new.split("/")[3].split("-")[0]) == 32


def test_launchctl_stand_in_says_what_it_is_and_prints_the_launchd_table(tmp_path):
    # systemctl answered by a stub: one running job, one failed job, one killed by a signal.
    stub = tmp_path / "systemctl"
    stub.write_text("#!/bin/sh\nif [ \"$1\" = list-units ]; then printf 'a.service loaded active running A\\n"
                    "b.service loaded failed failed B\\nc.service loaded failed failed C\\n'; exit 0; fi\n"
                    "printf 'Id=a.service\\nMainPID=42\\nExecMainStatus=0\\nExecMainCode=0\\nActiveState=active\\n"
                    "LoadState=loaded\\n\\nId=b.service\\nMainPID=0\\nExecMainStatus=1\\nExecMainCode=1\\n"
                    "ActiveState=failed\\nLoadState=loaded\\n\\nId=c.service\\nMainPID=0\\nExecMainStatus=9\\n"
                    "ExecMainCode=2\\nActiveState=failed\\nLoadState=loaded\\n'\n")
    stub.chmod(0o755)
    res = subprocess.run([sys.executable, str(HERE / "files" / "launchctl"), "list"], capture_output=True, text=True,
                         env=dict(os.environ, PATH=f"{tmp_path}:{os.environ['PATH']}"), check=False)
    assert res.returncode == 0, res.stderr
    assert "STAND-IN on Linux" in res.stderr and "not macOS" in res.stderr
    assert res.stdout.splitlines() == ["PID\tStatus\tLabel", "42\t0\torg.fleet.rehearsal.a",
                                       "-\t1\torg.fleet.rehearsal.b", "-\t-9\torg.fleet.rehearsal.c"]
    other = subprocess.run([sys.executable, str(HERE / "files" / "launchctl"), "bootout"], capture_output=True,
                           text=True, check=False)
    assert other.returncode == 64 and "only `launchctl list` is implemented" in other.stderr


def test_nix_env_stand_in_sets_switches_and_lists_generations(tmp_path):
    fakes = tmp_path / "opt"
    fakes.mkdir()
    script = (HERE / "files" / "nix-env").read_text().replace("/opt/fleet-standin/fakes", str(REPO / "tests" / "fakes"))
    tool = tmp_path / "nix-env"
    tool.write_text(script)
    profile = tmp_path / "profiles" / "system"

    def nix_env(*args):
        return subprocess.run([sys.executable, str(tool), "-p", str(profile), *args], capture_output=True, text=True,
                              check=False)

    assert nix_env("--set", "/nix/store/a").returncode == 0
    assert nix_env("--set", "/nix/store/b").returncode == 0
    assert nix_env("--switch-generation", "1").returncode == 0
    assert os.readlink(profile) == "system-1-link"
    listing = nix_env("--list-generations").stdout.splitlines()
    assert listing[0].startswith("   1 ") and listing[0].endswith("(current)") and len(listing) == 2
    bad = nix_env("--switch-generation", "7")
    assert bad.returncode == 1 and "error: profile version 7 does not exist" in bad.stderr


def test_timeline_draws_every_kind_and_each_phase_window_from_the_ledger_alone(tmp_path):
    import timeline

    sys.path.insert(0, str(REPO / ".collections"))
    from ansible_collections.fleet.migration.plugins.module_utils import ledger as ledger_mod

    # A ledger written through the Ledger API as the modules write it (plotting only reads it).
    path = tmp_path / "ledger.sqlite"
    with ledger_mod.Ledger(str(path)) as led:
        led.record("deployment", "srv-a", "clan_machine", True, phase=1)
        led.record("health", "srv-a", "service_health", True, phase=1)
        led.record("problem", "srv-a", "rolled-back", False, phase=1)
        led.record("gate", "srv-a", "gate", False, phase=1, details="NO-GO: srv-a: stable_for")
        led.record("gate", "srv-a", "gate", True, phase=1, details="GO")
    rows = timeline.load(path)
    [(phase, start, end, closed)] = timeline.windows(rows)
    assert (phase, closed) == (1, True) and start == rows[0]["at"] and end == rows[-1]["at"]
    out = tmp_path / "t.svg"
    timeline.plot(rows, out)
    svg = out.read_text()
    for label in ("deployment ok", "health ok", "problem opened", "gate NO-GO", "gate GO", "phase 1 window"):
        assert label in svg


def test_host_pattern_is_the_24_and_refuses_any_other_size():
    assert standins.host_pattern("10.77.1.0/24") == "10.77.1.*"
    with pytest.raises(ValueError, match="expected the stand-ins' IPv4 network to be a /24; found 10.77.0.0/16"):
        standins.host_pattern("10.77.0.0/16")


def _remote_clan(tmp_path, switch_status: int):
    """The clan fake with FAKE_CLAN_REMOTE=1 against an `ssh` stub that logs each call."""
    calls = tmp_path / "ssh.log"
    stub = tmp_path / "bin" / "ssh"
    stub.parent.mkdir()
    system = "/nix/store/" + "a" * 32 + "-nixos-system-srv-a"
    stub.write_text(f"#!/bin/sh\necho \"$*\" >> {calls}\n"
                    f"case \"$*\" in *'switch-to-configuration switch') exit {switch_status};;\n"
                    f"  *readlink*) echo {system};; esac\n")
    stub.chmod(0o755)
    state = tmp_path / "clan"
    state.mkdir()
    (state / "flake.json").write_text(json.dumps({"machines": {"srv-a": {
        "targetHost": "root@10.77.1.11", "toplevel": system, "build_error": None, "generators": {}}}}))
    res = subprocess.run([sys.executable, str(REPO / "tests" / "fakes" / "fake_clan.py"), "machines", "update",
                          "srv-a", "--target-host", "root@10.77.1.11:2222"], capture_output=True, text=True,
                         env=dict(os.environ, PATH=f"{stub.parent}:{os.environ['PATH']}", FAKE_CLAN_STATE=str(state),
                                  FAKE_CLAN_REMOTE="1"), check=False)
    return res, calls.read_text().splitlines(), system


def test_clan_fake_in_remote_mode_activates_on_the_target_over_ssh_in_upstreams_order(tmp_path):
    res, calls, system = _remote_clan(tmp_path, 0)
    assert res.returncode == 0, res.stderr
    assert calls == [
        f"-p 2222 root@10.77.1.11 nix-env -p /nix/var/nix/profiles/system --set {system} && "
        f"{system}/bin/switch-to-configuration boot",
        f"-p 2222 root@10.77.1.11 {system}/bin/switch-to-configuration switch",
        "-p 2222 root@10.77.1.11 readlink /run/current-system"]
    assert not (tmp_path / "clan" / "hosts").exists()  # nothing switched on the controller


def test_clan_fake_in_remote_mode_retries_a_failed_activation_once_then_fails(tmp_path):
    res, calls, system = _remote_clan(tmp_path, 1)
    assert res.returncode == 1
    assert [c.endswith("switch-to-configuration switch") for c in calls] == [False, True, True]
    assert "activation returned 1 \u2014 retrying" in res.stderr
    assert "switch-to-configuration failed on 'srv-a' (exit code 1)" in res.stderr
