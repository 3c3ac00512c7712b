"""fleet.migration.clan_machine against the clan and ssh contract fakes (tests/fakes)."""
from __future__ import annotations

import json
import os

import pytest

from fakes import install, path_with, profiles
from fakes.fake_clan import boot_into
from fakes import harness
from fakes.harness import run_module

from ansible_collections.fleet.migration.plugins.module_utils import clan_cli_host

TOPLEVEL_A = "/nix/store/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-nixos-system-web-25.11"
TOPLEVEL_B = "/nix/store/bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb-nixos-system-web-25.11"
TARGET = "root@web.fleet"

# Each test runs the module as a module and as its action plugin runs it in Ansible's worker.
each_way = harness.each_way
pytestmark = pytest.mark.usefixtures("each_way")


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

        def root(self):
            return state / "hosts" / "web.fleet"

        def installed(self, path):
            """A host that booted `path`: its profile and /run/current-system point at it."""
            profiles.set_path(self.profile(), path)
            boot_into(self.root(), path)

        def fresh_linux(self):
            """A new cloud VM: its stock Debian image, no NixOS (what nixos-anywhere expects)."""
            (self.root() / "etc").mkdir(parents=True, exist_ok=True)
            (self.root() / "etc/os-release").write_text('NAME="Debian GNU/Linux"\nID=debian\n')

        def running(self):
            link = self.root() / "run/current-system"
            return os.readlink(link) if link.is_symlink() else None

        def fault(self, mode):
            self.root().mkdir(parents=True, exist_ok=True)
            (self.root() / "ssh_fault").write_text(mode)

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
    clan.fresh_linux()
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
    assert result["msg"] == (
        "machine web: target_host is required, the module reads the system generation from it; found none; pass "
        "clan's address of the machine (its deploy.targetHost), which the clan inventory plugin's variables give as "
        "ansible_user@ansible_host[:ansible_port] with an IPv6 ansible_host in brackets (this fleet: "
        "\"{{ fleet_deploy_target }}\", inventory/group_vars/nixos.yml)")


def test_unreachable_target_fails_naming_host(clan):
    (clan.state / "unreachable").write_text("web.fleet\n")
    result = run_module("clan_machine", clan.args())
    assert result["failed"] and result["rc"] == 255
    assert "could not read its system generation" in result["msg"]
    assert "Connection refused" in result["msg"]
    assert "make root@web.fleet reachable over SSH" in result["msg"]


def test_build_failure_names_command_rc_and_stderr(clan):
    clan.installed(TOPLEVEL_A)
    clan.config["machines"]["web"]["build_error"] = "error: attribute 'foo' missing"
    clan.save()
    result = run_module("clan_machine", clan.args())
    assert result["failed"] and result["rc"] == 1
    assert "`clan machines update web" in result["msg"] and "failed with exit code 1" in result["msg"]
    assert "attribute 'foo' missing" in result["msg"]
    assert ("root@web.fleet is unchanged: the profile is still at generation 1 and the running system is %s. "
            "Fix the error and rerun" % TOPLEVEL_A) in result["msg"]
    assert (result["generation_after"], result["running_system"], result["running_matches_profile"]) == \
        (1, TOPLEVEL_A, True)
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
    clan.fresh_linux()
    clan.config["machines"]["web"]["reboot_polls"] = 2
    clan.save()
    result = run_module("clan_machine", clan.args(action="install", reboot_poll_interval=0))
    assert not result["failed"], result.get("msg")
    assert result["generation_after"] == 1
    assert len([c for c in clan.calls() if c[0] == "ssh"]) == 4  # before, 2 refused, then answered


def test_install_reboot_timeout_fails_naming_host(clan):
    clan.fresh_linux()
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


# --- deploy evidence: the profile and what the host runs ---------------------------------

def test_update_returns_profile_and_running_system(clan):
    clan.installed(TOPLEVEL_A)
    clan.set_toplevel(TOPLEVEL_B)
    result = run_module("clan_machine", clan.args(), diff=True)
    assert not result["failed"], result.get("msg")
    assert (result["generation_before"], result["generation_after"], result["profile_generation"]) == (1, 2, 2)
    assert (result["running_system_before"], result["running_system"]) == (TOPLEVEL_A, TOPLEVEL_B)
    assert result["running_matches_profile"] is True
    assert "running: %s" % TOPLEVEL_B in result["diff"]["after"]


def test_failed_activation_reports_the_generation_the_host_ended_on(clan):
    # clan sets the profile before switch-to-configuration (clan_lib/machines/update.py): the
    # profile is at the new generation 2 while the host still runs generation 1's system.
    clan.installed(TOPLEVEL_A)
    clan.set_toplevel(TOPLEVEL_B)
    clan.config["machines"]["web"]["activation_error"] = "Failed to start sshd.service"
    clan.save()
    result = run_module("clan_machine", clan.args())
    assert result["failed"] and result["rc"] == 1
    assert "switch-to-configuration failed on 'web'" in result["msg"]
    assert (result["generation_before"], result["generation_after"], result["profile_generation"]) == (1, 2, 2)
    assert result["system_after"] == TOPLEVEL_B
    assert result["running_system"] == TOPLEVEL_A and result["running_matches_profile"] is False
    assert ("the profile of root@web.fleet now points at generation 2 (%s) while the running system is %s (not the "
            "profile's system). Run playbooks/rollback-nixos.yml to return to generation 1, or fix the error and "
            "rerun the deploy" % (TOPLEVEL_B, TOPLEVEL_A)) in result["msg"]
    assert "previous generation" not in result["msg"] and "still runs" not in result["msg"]


def test_rerun_after_failed_activation_activates_and_reports_change(clan):
    clan.installed(TOPLEVEL_A)
    clan.set_toplevel(TOPLEVEL_B)
    clan.config["machines"]["web"]["activation_error"] = "Failed to start sshd.service"
    clan.save()
    run_module("clan_machine", clan.args())
    assert clan.running() == TOPLEVEL_A
    planned = run_module("clan_machine", clan.args(), check_mode=True)
    assert planned["changed"] is True, "check mode compared with the profile, not with what the host runs"
    clan.config["machines"]["web"]["activation_error"] = None
    clan.save()
    fixed = run_module("clan_machine", clan.args())
    assert not fixed["failed"], fixed.get("msg")
    # The profile generation stays 2 (nix-env --set to the same path adds none); what runs changed.
    assert fixed["changed"] is True and fixed["generation_before"] == fixed["generation_after"] == 2
    assert (fixed["running_system_before"], fixed["running_system"]) == (TOPLEVEL_A, TOPLEVEL_B)


def test_success_that_leaves_the_old_system_running_fails(clan, tmp_path):
    # A clan that exits 0 although the host does not run the profile's system is not a deployment.
    profiles.set_path(clan.profile(), TOPLEVEL_A)
    boot_into(clan.root(), TOPLEVEL_A)
    profiles.set_path(clan.profile(), TOPLEVEL_B)
    noop = _script(tmp_path / "bin" / "noop-clan", "exit 0\n")
    result = run_module("clan_machine", clan.args(clan_bin=noop))
    assert result["failed"]
    assert result["msg"] == ("machine web: clan update succeeded but root@web.fleet runs %s, not the profile's "
                             "generation 2 (%s); expected /run/current-system to be the profile's system. Reboot "
                             "the host or run playbooks/rollback-nixos.yml, then rerun" % (TOPLEVEL_A, TOPLEVEL_B))


def test_hanging_update_is_stopped_and_reports_the_host_state(clan):
    clan.installed(TOPLEVEL_A)
    clan.config["machines"]["web"]["hang"] = True
    clan.save()
    result = run_module("clan_machine", clan.args(timeout=2))
    assert result["failed"] and result["error_kind"] == "timeout"
    assert "timed out after 2 seconds" in result["msg"]
    assert "root@web.fleet is unchanged: the profile is still at generation 1" in result["msg"]


def test_failure_when_the_host_cannot_be_read_afterwards_says_so(clan, tmp_path):
    clan.installed(TOPLEVEL_A)
    breaker = _script(tmp_path / "bin" / "breaking-clan",
                      "echo refused > %s/ssh_fault\necho 'error: lost connection' >&2\nexit 1\n" % clan.root())
    result = run_module("clan_machine", clan.args(clan_bin=breaker))
    assert result["failed"] and "lost connection" in result["msg"]
    assert "What the host runs now is unknown: machine web: could not read its system generation" in result["msg"]
    assert ("Check it by hand (`ssh -o BatchMode=yes -o ConnectTimeout=10 root@web.fleet 'readlink /run/current-system "
            "/nix/var/nix/profiles/system'`)") in result["msg"]


# --- install runs only when the probe shows positively that no NixOS runs ----------------

PROBE_FOUND = {
    "refused": ("ssh could not connect (ssh: connect to host web.fleet port 22: Connection refused)",
                "make root@web.fleet reachable over SSH"),
    "timeout": ("the ssh connection timed out (ssh: connect to host web.fleet port 22: Connection timed out)",
                "make root@web.fleet reachable over SSH"),
    "auth": ("ssh authentication failed (root@web.fleet: Permission denied (publickey).)",
             "load the key root@web.fleet accepts into the ssh agent"),
    "hostkey": ("its host key does not match known_hosts (Host key verification failed.)",
                "find out why the key changed. If web.fleet was reinstalled on purpose, compare the new fingerprint "
                "out of band, run `ssh-keygen -R web.fleet` and rerun; otherwise stop, the address may reach another "
                "machine"),
    "garbage": ("output without the probe's markers ('This account is currently not available.')",
                "check that root@web.fleet's login shell runs POSIX sh commands"),
    "exit:127": ("the remote shell exited 127 (sh: 1: readlink: not found)",
                 "the probe needs a POSIX shell with echo, uname, test, cat and readlink"),
    "hang": ("no answer within 2 seconds", "find out why ssh hangs (a password or passphrase prompt?"),
}


@pytest.mark.parametrize("mode", sorted(PROBE_FOUND))
def test_install_refuses_unless_the_probe_answered(clan, mode):
    clan.fault(mode)
    result = run_module("clan_machine", clan.args(action="install", force=True, timeout=2))
    assert result["failed"]
    found, todo = PROBE_FOUND[mode]
    assert result["msg"].startswith("machine web: could not read its system generation from root@web.fleet: "
                                    "expected ssh to run the probe and print its report; found ")
    assert found in result["msg"] and ("What to do: " + todo) in result["msg"]
    assert not any(c[:3] == ["clan", "machines", "install"] for c in clan.calls()), "install ran anyway"


def test_install_refuses_another_installed_nixos(clan):
    other = "/nix/store/dddddddddddddddddddddddddddddddd-nixos-system-db-25.11"
    clan.installed(other)
    result = run_module("clan_machine", clan.args(action="install"))
    assert result["failed"]
    assert result["msg"] == ("machine web: install refused: expected root@web.fleet to run no NixOS, or the NixOS "
                             "installer image (nixos-system-nixos-*); found running %s (system profile generation 1). "
                             "Installing formats its disks. To change an installed web use action: update; if this "
                             "host is meant to be wiped and become web, pass force: true" % other)
    assert not any(c[:3] == ["clan", "machines", "install"] for c in clan.calls())
    forced = run_module("clan_machine", clan.args(action="install", force=True))
    assert not forced["failed"] and forced["running_system"] == TOPLEVEL_A


def test_install_refuses_nixos_whose_running_system_is_unknown(clan):
    (clan.root() / "etc").mkdir(parents=True)
    (clan.root() / "etc/NIXOS").write_text("")
    result = run_module("clan_machine", clan.args(action="install"))
    assert result["failed"] and result["host_os"]["nixos"] is True
    assert ("found NixOS (/etc/NIXOS or os-release ID=nixos) but no /run/current-system. Installing formats its "
            "disks.") in result["msg"]


def test_install_refuses_a_host_that_is_not_linux(clan):
    clan.root().mkdir(parents=True)
    (clan.root() / "uname").write_text("Darwin\n")
    result = run_module("clan_machine", clan.args(action="install"))
    assert result["failed"]
    assert result["msg"] == ("machine web: install refused: expected root@web.fleet to be a Linux host without "
                             "NixOS; found `uname -s` printing 'Darwin'. clan installs NixOS on Linux only: check "
                             "target_host")


def test_install_refuses_a_host_whose_distribution_is_unknown(clan):
    # No /etc/NIXOS and no os-release: nothing shows positively that NixOS is absent.
    clan.root().mkdir(parents=True)
    for force in (False, True):
        result = run_module("clan_machine", clan.args(action="install", force=force))
        assert result["failed"]
        assert result["msg"] == (
            "machine web: install refused: expected root@web.fleet to name its Linux distribution in /etc/os-release "
            "(ID=debian, for example) and show no NixOS; found no readable os-release ID, so the probe cannot show "
            "that the host runs no NixOS. Installing formats its disks: check the host by hand (`cat /etc/os-release`) "
            "and whether target_host names the right machine")
    assert not any(c[:3] == ["clan", "machines", "install"] for c in clan.calls())


def test_install_on_a_linux_host_without_nixos_installs(clan):
    (clan.root() / "etc").mkdir(parents=True)
    (clan.root() / "etc/os-release").write_text('NAME="Debian GNU/Linux"\nID=debian\n')
    clan.fault("banner")  # a login banner before the report does not hide it
    result = run_module("clan_machine", clan.args(action="install"))
    assert not result["failed"], result.get("msg")
    assert result["host_os"] == {"uname": "Linux", "nixos": False, "os_release_id": "debian"}
    assert result["changed"] is True and result["running_system"] == TOPLEVEL_A


def test_check_mode_install_applies_the_guard(clan):
    clan.installed("/nix/store/dddddddddddddddddddddddddddddddd-nixos-system-db-25.11")
    result = run_module("clan_machine", clan.args(action="install"), check_mode=True)
    assert result["failed"] and "install refused" in result["msg"]


def test_update_fails_on_unknown_probe_output(clan):
    clan.installed(TOPLEVEL_A)
    clan.fault("garbage")
    result = run_module("clan_machine", clan.args())
    assert result["failed"] and result["probe_error"] == "unknown_output"
    assert not any(c[:3] == ["clan", "machines", "update"] for c in clan.calls())


def test_install_waits_until_the_host_runs_its_new_system(clan, tmp_path):
    # The installer can still answer right after clan returns: that answer is not the installed system.
    installer = "/nix/store/cccccccccccccccccccccccccccccccc-nixos-system-nixos-installer-25.11"
    clan.installed(installer)
    root = clan.root()
    slow = _script(tmp_path / "bin" / "slow-boot-clan",
                   'clan "$@" || exit $?\n'
                   'ln -sfn %s %s/run/current-system\n'  # still the installer...
                   '(sleep 1; ln -sfn %s %s/run/current-system) >/dev/null 2>&1 &\n'  # ...until it reboots
                   % (installer, root, TOPLEVEL_A, root))
    result = run_module("clan_machine", clan.args(action="install", clan_bin=slow, reboot_poll_interval=0))
    assert not result["failed"], result.get("msg")
    assert result["running_system"] == TOPLEVEL_A and result["running_matches_profile"] is True


# --- target_host forms: ssh gets -p PORT and a bare host, clan the bracketed address (issue 14) -----------

SSH_OPTS = ["-o", "BatchMode=yes"]


@pytest.mark.parametrize(
    ("target", "ssh_tail", "clan_address"),
    [
        ("root@192.0.2.7", ["root@192.0.2.7"], "root@192.0.2.7"),
        ("192.0.2.7:2222", ["-p", "2222", "root@192.0.2.7"], "192.0.2.7:2222"),
        ("web.fleet", ["root@web.fleet"], "web.fleet"),
        ("admin@web.fleet:2222", ["-p", "2222", "admin@web.fleet"], "admin@web.fleet:2222"),
        ("root@2001:db8::1", ["root@2001:db8::1"], "root@[2001:db8::1]"),
        ("2001:db8::1", ["root@2001:db8::1"], "[2001:db8::1]"),
        ("root@[2001:db8::1]", ["root@2001:db8::1"], "root@[2001:db8::1]"),
        ("root@[2001:db8::1]:2222", ["-p", "2222", "root@2001:db8::1"], "root@[2001:db8::1]:2222"),
        ("[2001:db8::1]:22", ["-p", "22", "root@2001:db8::1"], "[2001:db8::1]:22"),
        ("ssh://admin@[2001:db8::1]:2222?IdentityFile=/k",
         ["-p", "2222", "-o", "IdentityFile=/k", "admin@2001:db8::1"], "admin@[2001:db8::1]:2222?IdentityFile=/k"),
    ],
)
def test_target_forms_give_ssh_and_clan_their_own_syntax(target, ssh_tail, clan_address):
    params = {"machine": "web", "target_host": target, "ssh_bin": "ssh", "ssh_options": SSH_OPTS}
    assert clan_cli_host.ssh_argv(params) == ["ssh"] + SSH_OPTS + ssh_tail
    assert clan_cli_host.clan_target("web", target) == clan_address


@pytest.mark.parametrize(("target", "known_hosts"), [
    ("root@web.fleet", "web.fleet"), ("root@web.fleet:22", "web.fleet"), ("root@web.fleet:2222", "[web.fleet]:2222"),
    ("root@[2001:db8::1]:2222", "[2001:db8::1]:2222"), ("root@2001:db8::1", "2001:db8::1"),
])
def test_known_hosts_name_is_what_ssh_keygen_r_takes(target, known_hosts):
    assert clan_cli_host.known_hosts_name("web", target) == known_hosts


def _ipv6_host(clan, name):
    """The fake host reached at the IPv6 address ``name``, running TOPLEVEL_A's predecessor."""
    root = clan.state / "hosts" / name
    profiles.set_path(root / "nix/var/nix/profiles/system",
                      "/nix/store/00000000000000000000000000000000-nixos-system-web-old")
    return root


@pytest.mark.parametrize("target", ["root@[2001:db8::1]:2222", "root@2001:db8::1", "root@[2001:db8::1]"])
def test_update_over_ipv6_reaches_the_host_and_clan(clan, target):
    _ipv6_host(clan, "2001:db8::1")
    result = run_module("clan_machine", clan.args(target_host=target))
    assert not result["failed"], result
    assert result["changed"] is True and result["system_after"] == TOPLEVEL_A
    ssh = [c for c in clan.calls() if c[0] == "ssh"][0]
    assert ssh[-2] == "root@2001:db8::1", ssh
    assert (ssh[ssh.index("-p") + 1] if "-p" in ssh else None) == ("2222" if target.endswith(":2222") else None)
    update = [c for c in clan.calls() if c[:3] == ["clan", "machines", "update"]][0]
    assert update[update.index("--target-host") + 1] == target.replace("@2001:db8::1", "@[2001:db8::1]")


def test_install_over_bracketed_ipv6_with_port(clan):
    root = clan.state / "hosts" / "2001:db8::1"
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "os-release").write_text("ID=debian\n")
    result = run_module("clan_machine", clan.args(action="install", target_host="root@[2001:db8::1]:2222"))
    assert not result["failed"], result
    install = [c for c in clan.calls() if c[:3] == ["clan", "machines", "install"]][0]
    assert install[install.index("--target-host") + 1] == "root@[2001:db8::1]:2222"
    assert result["running_system"] == TOPLEVEL_A


def test_host_key_failure_on_a_port_names_the_known_hosts_entry(clan):
    root = clan.state / "hosts" / "2001:db8::1"
    root.mkdir(parents=True)
    (root / "ssh_fault").write_text("hostkey")
    result = run_module("clan_machine", clan.args(target_host="root@[2001:db8::1]:2222"))
    assert result["failed"] and result["probe_error"] == "host_key"
    assert "run `ssh-keygen -R '[2001:db8::1]:2222'` and rerun" in result["msg"]


@pytest.mark.parametrize(("target", "reason"), [
    ("root@web.fleet:ssh", "the port 'ssh' is not a number"),
    ("root@[nothex]:22", "'[nothex]:22' is not a bracketed IPv6 address with an optional :port"),
    ("root@web:22:33", "'web:22:33' has more than one ':' but is not an IPv6 address (write an address with a port "
                       "as [addr]:port)"),
])
def test_malformed_target_fails_before_any_command(clan, target, reason):
    result = run_module("clan_machine", clan.args(target_host=target))
    assert result["failed"]
    assert result["msg"] == (
        "machine web: target_host expected the form [user@]host[:port] (IPv6 as [addr]:port or a bare addr, options "
        "as ?Option=value), found %r (%s); pass clan's address of the machine (its deploy.targetHost), which the "
        "clan inventory plugin's variables give as ansible_user@ansible_host[:ansible_port] with an IPv6 "
        "ansible_host in brackets (this fleet: \"{{ fleet_deploy_target }}\", inventory/group_vars/nixos.yml)"
        % (target, reason))
    assert not (clan.state / "calls.jsonl").exists()
