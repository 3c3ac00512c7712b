"""fleet.migration.clan_machine against the clan and ssh contract fakes (tests/fakes)."""
from __future__ import annotations

import json
import os

import pytest

from fakes import install, path_with, profiles
from fakes.harness import run_module

TOPLEVEL_A = "/nix/store/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-nixos-system-web-25.11"
TOPLEVEL_B = "/nix/store/bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb-nixos-system-web-25.11"
TARGET = "root@web.fleet"


@pytest.fixture
def clan(tmp_path, monkeypatch):
    state = tmp_path / "state"
    flake = tmp_path / "flake"
    flake.mkdir()
    (flake / "flake.nix").write_text("{ outputs = _: { }; }\n")
    monkeypatch.setenv("FAKE_CLAN_STATE", str(state))
    monkeypatch.setenv("PATH", path_with(install(tmp_path / "bin")))
    state.mkdir()
    config = {"machines": {"web": {
        "targetHost": TARGET, "toplevel": TOPLEVEL_A,
        "generators": {"openssh": {"files": {
            "ssh.id_ed25519": {"secret": True},
            "ssh.id_ed25519.pub": {"secret": False},
        }}},
    }}}

    class Env:
        def __init__(self):
            self.state, self.flake, self.config = state, flake, config
            self.save()

        def save(self):
            (state / "flake.json").write_text(json.dumps(self.config))

        def set_toplevel(self, path):
            self.config["machines"]["web"]["toplevel"] = path
            self.save()

        def profile(self):
            return state / "hosts" / "web.fleet" / "nix/var/nix/profiles/system"

        def calls(self):
            lines = (state / "calls.jsonl").read_text().splitlines()
            return [json.loads(line)["argv"] for line in lines]

        def args(self, **extra):
            return dict(dict(machine="web", flake=str(flake), target_host=TARGET), **extra)

    return Env()


def test_update_switches_then_second_run_is_unchanged(clan):
    profiles.set_path(clan.profile(), "/nix/store/00000000000000000000000000000000-nixos-system-web-old")
    first = run_module("clan_machine", clan.args())
    assert not first["failed"], first
    assert first["changed"] is True
    assert (first["generation_before"], first["generation_after"]) == (1, 2)
    assert first["system_after"] == TOPLEVEL_A
    second = run_module("clan_machine", clan.args())
    assert second["changed"] is False
    assert second["generation_before"] == second["generation_after"] == 2


def test_update_passes_flags_to_clan(clan):
    profiles.set_path(clan.profile(), TOPLEVEL_A)
    run_module("clan_machine", clan.args(build_host="localhost", host_key_check="strict",
                                         nix_options={"eval-cache": "false"}, nix_flags=["--upload-inputs"]))
    update = [c for c in clan.calls() if c[:3] == ["clan", "machines", "update"]][0]
    assert update == ["clan", "machines", "update", "web", "--flake", str(clan.flake), "--option", "eval-cache",
                      "false", "--target-host", TARGET, "--build-host", "localhost", "--host-key-check", "strict",
                      "--upload-inputs"]


def test_check_mode_builds_but_never_switches(clan):
    profiles.set_path(clan.profile(), TOPLEVEL_A)
    run_module("clan_machine", clan.args())  # generates the vars
    clan.set_toplevel(TOPLEVEL_B)
    result = run_module("clan_machine", clan.args(), check_mode=True, diff=True)
    assert result["changed"] is True
    assert result["system_after"] == TOPLEVEL_B
    assert result["generation_after"] == result["generation_before"] == 1
    assert profiles.store_path(clan.profile()) == TOPLEVEL_A, "check mode switched the machine"
    assert not any(c[:3] == ["clan", "machines", "update"] for c in clan.calls()[-3:])
    assert "system: %s" % TOPLEVEL_B in result["diff"]["after"]


def test_check_mode_unchanged_when_built_system_is_running(clan):
    profiles.set_path(clan.profile(), TOPLEVEL_A)
    run_module("clan_machine", clan.args())
    result = run_module("clan_machine", clan.args(), check_mode=True)
    assert result["changed"] is False


def test_check_mode_with_missing_vars_does_not_build(clan):
    profiles.set_path(clan.profile(), TOPLEVEL_A)
    result = run_module("clan_machine", clan.args(), check_mode=True)
    assert result["changed"] is True
    assert result["missing_vars"] == ["openssh/ssh.id_ed25519", "openssh/ssh.id_ed25519.pub"]
    assert "vars are missing" in result["msg"] and "clan vars generate web" in result["msg"]
    assert not (clan.flake / "vars").exists(), "check mode wrote vars into the flake"


def test_install_fresh_machine_then_skips_reinstall(clan):
    first = run_module("clan_machine", clan.args(action="install", identity_file="/tmp/id",
                                                 update_hardware_config="nixos-facter"))
    assert first["changed"] is True and first["generation_before"] is None and first["generation_after"] == 1
    install_call = [c for c in clan.calls() if c[:3] == ["clan", "machines", "install"]][0]
    assert "--yes" in install_call and "-i" in install_call and "nixos-facter" in install_call
    second = run_module("clan_machine", clan.args(action="install"))
    assert second["changed"] is False
    assert "already runs its NixOS (system generation 1)" in second["msg"] and "action: update" in second["msg"]


def test_install_force_reinstalls(clan):
    profiles.set_path(clan.profile(), TOPLEVEL_B)
    profiles.set_path(clan.profile(), TOPLEVEL_A)
    result = run_module("clan_machine", clan.args(action="install", force=True))
    assert result["changed"] is True and (result["generation_before"], result["generation_after"]) == (2, 1)


def test_missing_target_host_fails_with_instructions(clan):
    result = run_module("clan_machine", dict(machine="web", flake=str(clan.flake)))
    assert result["failed"]
    assert "machine web: target_host is required" in result["msg"]
    assert "{{ ansible_user }}@{{ ansible_host }}" in result["msg"]


def test_unreachable_target_fails_naming_host(clan):
    (clan.state / "unreachable").write_text("web.fleet\n")
    result = run_module("clan_machine", clan.args())
    assert result["failed"] and result["rc"] == 255
    assert "could not read its system generation" in result["msg"]
    assert "Connection refused" in result["msg"]
    assert "make root@web.fleet reachable over SSH" in result["msg"]


def test_build_failure_names_command_rc_and_stderr(clan):
    profiles.set_path(clan.profile(), TOPLEVEL_A)
    clan.config["machines"]["web"]["build_error"] = "error: attribute 'foo' missing"
    clan.save()
    result = run_module("clan_machine", clan.args())
    assert result["failed"] and result["rc"] == 1
    assert "`clan machines update web" in result["msg"] and "failed with exit code 1" in result["msg"]
    assert "attribute 'foo' missing" in result["msg"]
    assert "previous generation running" in result["msg"]
    assert profiles.store_path(clan.profile()) == TOPLEVEL_A


def test_unknown_machine_fails_with_clan_message(clan):
    result = run_module("clan_machine", clan.args(machine="nope", target_host="root@nope.fleet"))
    assert result["failed"]
    assert "Machine 'nope' not found" in result["msg"]


def test_missing_clan_binary_says_what_to_do(clan):
    profiles.set_path(clan.profile(), TOPLEVEL_A)
    result = run_module("clan_machine", clan.args(clan_bin="clan-does-not-exist"))
    assert result["failed"] and result["error_kind"] == "not_found"
    assert "'clan-does-not-exist' was not found" in result["msg"]


def test_timeout_stops_command(clan, tmp_path):
    slow = tmp_path / "bin" / "slowclan"
    slow.write_text("#!/bin/sh\nsleep 5\n")
    os.chmod(slow, 0o755)
    profiles.set_path(clan.profile(), TOPLEVEL_A)
    result = run_module("clan_machine", clan.args(clan_bin="slowclan", timeout=1))
    assert result["failed"] and result["error_kind"] == "timeout"
    assert "timed out after 1 seconds" in result["msg"] and "raise the module's timeout option" in result["msg"]


def test_target_port_goes_to_ssh_dash_p(clan):
    profiles.set_path(clan.profile(), TOPLEVEL_A)
    run_module("clan_machine", clan.args(target_host="root@web.fleet:2222"))
    ssh = [c for c in clan.calls() if c[0] == "ssh"][0]
    assert ssh[ssh.index("-p") + 1] == "2222" and "root@web.fleet" in ssh


def test_check_mode_unknown_machine_is_an_error_not_missing_vars(clan):
    result = run_module("clan_machine", clan.args(machine="ghost", target_host="root@ghost.fleet"), check_mode=True)
    assert result["failed"] and "Machine 'ghost' not found" in result["msg"]
    assert "clan vars check ghost" in result["msg"]


def test_install_over_an_installer_image_installs(clan):
    profiles.set_path(clan.profile(), "/nix/store/cccccccccccccccccccccccccccccccc-nixos-system-nixos-installer-25.11")
    result = run_module("clan_machine", clan.args(action="install"))
    assert result["changed"] is True and result["system_after"] == TOPLEVEL_A
    assert any(c[:3] == ["clan", "machines", "install"] for c in clan.calls())


def test_install_waits_for_the_reboot(clan):
    clan.config["machines"]["web"]["reboot_polls"] = 2
    clan.save()
    result = run_module("clan_machine", clan.args(action="install", reboot_poll_interval=0))
    assert not result["failed"], result.get("msg")
    assert result["generation_after"] == 1
    assert len([c for c in clan.calls() if c[0] == "ssh"]) == 4  # before, 2 refused, then answered


def test_install_reboot_timeout_fails_naming_host(clan):
    clan.config["machines"]["web"]["reboot_polls"] = 1000
    clan.save()
    result = run_module("clan_machine", clan.args(action="install", reboot_timeout=0, reboot_poll_interval=0))
    assert result["failed"] and "could not read its system generation" in result["msg"]
    assert "make root@web.fleet reachable over SSH" in result["msg"]


def _script(path, body):
    path.write_text("#!/bin/sh\n" + body)
    os.chmod(path, 0o755)
    return str(path)


def test_update_that_leaves_no_system_profile_fails(clan, tmp_path):
    noop = _script(tmp_path / "bin" / "noop-clan", "exit 0\n")
    result = run_module("clan_machine", clan.args(clan_bin=noop))
    assert result["failed"]
    assert result["msg"] == ("machine web: clan update succeeded but root@web.fleet has no system profile at "
                             "/nix/var/nix/profiles/system; check that the target_host is the machine that was deployed")


def test_build_without_store_path_is_bad_output(clan, tmp_path):
    profiles.set_path(clan.profile(), TOPLEVEL_A)
    quiet = _script(tmp_path / "bin" / "quiet-clan",
                    'if [ "$2" = check ]; then echo "Check results for machine \'web\': " >&2; fi\nexit 0\n')
    result = run_module("clan_machine", clan.args(clan_bin=quiet), check_mode=True)
    assert result["failed"] and result["error_kind"] == "bad_output"
    assert "expected a /nix/store path on stdout, found none" in result["msg"]


@pytest.mark.parametrize("mode", ["accept-new", "tofu"])
def test_host_key_check_trust_on_first_use_modes_reach_clan(clan, mode):
    # clan_lib/ssh/host_key.py accepts both spellings; the fake rejects anything else like clan's argparse does.
    profiles.set_path(clan.profile(), TOPLEVEL_A)
    result = run_module("clan_machine", clan.args(host_key_check=mode))
    assert not result["failed"], result.get("msg")
    update = [c for c in clan.calls() if c[:3] == ["clan", "machines", "update"]][0]
    assert update[update.index("--host-key-check") + 1] == mode


def test_check_mode_build_failure_says_what_to_fix(clan):
    profiles.set_path(clan.profile(), TOPLEVEL_A)
    run_module("clan_machine", clan.args())  # generates the vars, so check mode goes on to build
    clan.config["machines"]["web"]["build_error"] = "error: attribute 'bar' missing"
    clan.save()
    result = run_module("clan_machine", clan.args(), check_mode=True)
    assert result["failed"] and result["rc"] == 1
    assert "`clan machines build web --flake %s --no-link` failed with exit code 1" % clan.flake in result["msg"]
    assert "attribute 'bar' missing" in result["msg"]
    assert "What to do: fix the configuration of web so that `clan machines build web` succeeds" in result["msg"]


def test_secret_environment_reaches_clan_and_never_the_result(clan, tmp_path):
    profiles.set_path(clan.profile(), TOPLEVEL_A)
    leaky = _script(tmp_path / "bin" / "leaky-clan", 'echo "key is $SOPS_AGE_KEY" >&2\nexit 1\n')
    secret = "not-a-real-age-identity-0123456789"
    result = run_module("clan_machine", clan.args(clan_bin=leaky, secret_environment={"SOPS_AGE_KEY": secret}))
    assert result["failed"]
    assert "key is ********" in result["msg"], "the variable did not reach clan, or was not scrubbed"
    assert secret not in json.dumps(result)
