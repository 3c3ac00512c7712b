"""fleet.migration.darwin_rebuild against the darwin-rebuild contract fake (tests/fakes/fake_darwin_rebuild.py)."""
from __future__ import annotations

import json
import os

import pytest

from fakes import install, path_with, profiles
from fakes.harness import run_module

SYS_A = "/nix/store/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-darwin-system-25.11"
SYS_B = "/nix/store/bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb-darwin-system-25.11"


@pytest.fixture
def darwin(tmp_path, monkeypatch):
    state = tmp_path / "state"
    state.mkdir()
    monkeypatch.setenv("FAKE_DARWIN_STATE", str(state))
    monkeypatch.setenv("FAKE_DARWIN_UID", "0")
    monkeypatch.setenv("PATH", path_with(install(tmp_path / "bin")))
    monkeypatch.chdir(tmp_path)

    class Env:
        profile = state / "profiles" / "system"
        current = state / "run" / "current-system"

        def __init__(self):
            self.configure(SYS_A)

        def configure(self, system, error=None, **extra):
            (state / "config.json").write_text(json.dumps(
                {"hosts": {"blackphos": dict({"system": system, "build_error": error}, **extra)}}))

        def base(self, **kw):
            """Options every call needs here: the fake's profile and active-system link."""
            return dict(dict(profile=str(self.profile), current_system=str(self.current)), **kw)

        def args(self, **kw):
            return self.base(**dict(dict(host="blackphos", flake="/work/fleet"), **kw))

        def running(self):
            return os.readlink(self.current) if self.current.is_symlink() else None

        def calls(self):
            return [json.loads(line)["argv"] for line in (state / "calls.jsonl").read_text().splitlines()]

    return Env()


def test_switch_creates_generation_then_second_run_unchanged(darwin):
    first = run_module("darwin_rebuild", darwin.args())
    assert not first["failed"], first
    assert first["changed"] is True
    assert (first["generation_before"], first["generation_after"]) == (None, 1)
    assert first["system_after"] == SYS_A
    second = run_module("darwin_rebuild", darwin.args())
    assert second["changed"] is False and second["generation_after"] == 1
    assert ["darwin-rebuild", "switch", "--flake", "/work/fleet#blackphos"] in darwin.calls()


def test_switch_new_config_bumps_generation_with_diff(darwin):
    run_module("darwin_rebuild", darwin.args())
    darwin.configure(SYS_B)
    result = run_module("darwin_rebuild", darwin.args(nix_flags=["--offline"]), diff=True)
    assert result["changed"] and (result["generation_before"], result["generation_after"]) == (1, 2)
    assert result["diff"] == {"before": "generation: 1\nsystem: %s\nrunning: %s\n" % (SYS_A, SYS_A),
                              "after": "generation: 2\nsystem: %s\nrunning: %s\n" % (SYS_B, SYS_B)}
    assert [g["current"] for g in result["generations"]] == [False, True]
    assert darwin.calls()[-2][-1] == "--offline"


def test_check_mode_switch_builds_only(darwin):
    run_module("darwin_rebuild", darwin.args())
    darwin.configure(SYS_B)
    result = run_module("darwin_rebuild", darwin.args(), check_mode=True)
    assert result["changed"] is True and result["system_after"] == SYS_B
    assert profiles.store_path(darwin.profile) == SYS_A
    assert not any(c[1] == "switch" for c in darwin.calls()[-2:])
    same = run_module("darwin_rebuild", darwin.args(host="blackphos"), check_mode=True)
    darwin.configure(SYS_A)
    same = run_module("darwin_rebuild", darwin.args(), check_mode=True)
    assert same["changed"] is False


def test_build_reports_path_and_changes_nothing(darwin, tmp_path):
    result = run_module("darwin_rebuild", darwin.args(action="build"))
    assert result["changed"] is False and result["system_after"] == SYS_A
    assert not (tmp_path / "result").exists(), "build left ./result in the working directory"
    assert result["generation_after"] is None


def test_rollback_previous_and_named(darwin):
    run_module("darwin_rebuild", darwin.args())
    darwin.configure(SYS_B)
    run_module("darwin_rebuild", darwin.args())
    back = run_module("darwin_rebuild", darwin.base(action="rollback"), diff=True)
    assert back["changed"] and (back["generation_before"], back["generation_after"]) == (2, 1)
    assert back["system_after"] == SYS_A
    named = run_module("darwin_rebuild", darwin.base(action="rollback", generation=2))
    assert named["changed"] and named["generation_after"] == 2
    again = run_module("darwin_rebuild", darwin.base(action="rollback", generation=2))
    assert again["changed"] is False
    assert ["darwin-rebuild", "--switch-generation", "2"] in darwin.calls()


def test_rollback_check_mode_does_not_switch(darwin):
    run_module("darwin_rebuild", darwin.args())
    darwin.configure(SYS_B)
    run_module("darwin_rebuild", darwin.args())
    result = run_module("darwin_rebuild", darwin.base(action="rollback"), check_mode=True)
    assert result["changed"] and result["generation_after"] == 1
    assert profiles.current(darwin.profile) == 2


def test_rollback_without_older_generation_fails(darwin):
    run_module("darwin_rebuild", darwin.args())
    result = run_module("darwin_rebuild", darwin.base(action="rollback"))
    assert result["failed"]
    assert "no generation older than the current (1) exists" in result["msg"]
    assert "switch to a known good configuration" in result["msg"]


def test_rollback_to_unknown_generation_fails(darwin):
    run_module("darwin_rebuild", darwin.args())
    result = run_module("darwin_rebuild", darwin.base(action="rollback", generation=7))
    assert result["failed"]
    assert "expected generation 7 to exist, found only [1]" in result["msg"]


def test_list_generations(darwin):
    run_module("darwin_rebuild", darwin.args())
    darwin.configure(SYS_B)
    run_module("darwin_rebuild", darwin.args())
    result = run_module("darwin_rebuild", dict(action="list_generations"))
    assert result["changed"] is False
    assert [(g["generation"], g["current"]) for g in result["generations"]] == [(1, False), (2, True)]


def test_not_root_fails_with_become_hint(darwin, monkeypatch):
    monkeypatch.setenv("FAKE_DARWIN_UID", "501")
    result = run_module("darwin_rebuild", darwin.args())
    assert result["failed"] and result["rc"] == 1
    assert "system activation must now be run as root" in result["msg"]
    assert "become: true" in result["msg"]


def test_build_error_names_command_and_keeps_generation(darwin):
    run_module("darwin_rebuild", darwin.args())
    darwin.configure(SYS_B, error="error: The option `system.defaults.dock.bogus' does not exist.")
    result = run_module("darwin_rebuild", darwin.args())
    assert result["failed"] and result["rc"] == 1
    assert "`darwin-rebuild switch --flake '/work/fleet#blackphos'` failed with exit code 1" in result["msg"]
    assert "dock.bogus' does not exist" in result["msg"]
    assert ("the host is unchanged: the profile is still at generation 1 and the running system is %s. Fix the "
            "error and rerun" % SYS_A) in result["msg"]
    assert profiles.current(darwin.profile) == 1


def test_unknown_host_reports_nix_error(darwin):
    result = run_module("darwin_rebuild", darwin.args(host="nohost"))
    assert result["failed"] and "does not provide attribute" in result["msg"]


def test_switch_requires_host(darwin):
    result = run_module("darwin_rebuild", dict(action="switch"))
    assert result["failed"] and "host" in result["msg"]


def test_unknown_flag_is_reported(darwin):
    result = run_module("darwin_rebuild", darwin.args(nix_flags=["--bogus"]))
    assert result["failed"] and "unknown option '--bogus'" in result["stdout"]


def _wrapper(path, fail_on: str, message: str) -> str:
    """darwin-rebuild that fails with `message` when called with `fail_on`, else runs the fake."""
    path.write_text('#!/bin/sh\nfor a in "$@"; do [ "$a" = "%s" ] && { echo "%s" >&2; exit 1; }; done\n'
                    'exec darwin-rebuild "$@"\n' % (fail_on, message))
    path.chmod(0o755)
    return str(path)


def test_build_failure_says_what_to_fix(darwin):
    darwin.configure(SYS_B, error="error: undefined variable 'pkgs'")
    result = run_module("darwin_rebuild", darwin.args(action="build"))
    assert result["failed"] and result["rc"] == 1
    assert "`darwin-rebuild build --flake '/work/fleet#blackphos'` failed with exit code 1" in result["msg"]
    assert "undefined variable 'pkgs'" in result["msg"]
    assert "What to do: fix darwinConfigurations.blackphos in /work/fleet so that it builds" in result["msg"]


def test_list_generations_failure_names_the_profile(darwin, tmp_path):
    binary = _wrapper(tmp_path / "dr-list", "--list-generations", "error: opening profile: Permission denied")
    result = run_module("darwin_rebuild", darwin.args(darwin_rebuild_bin=binary))
    assert result["failed"] and "Permission denied" in result["msg"]
    assert "What to do: check that %s is the nix-darwin system profile" % darwin.profile in result["msg"]


def test_rollback_failure_points_at_the_tool_error(darwin, tmp_path):
    run_module("darwin_rebuild", darwin.args())
    darwin.configure(SYS_B)
    run_module("darwin_rebuild", darwin.args())
    binary = _wrapper(tmp_path / "dr-rollback", "--rollback", "error: switching generation: disk full")
    result = run_module("darwin_rebuild", darwin.args(action="rollback", darwin_rebuild_bin=binary))
    assert result["failed"] and "disk full" in result["msg"]
    assert "--rollback` failed with exit code 1" in result["msg"]
    assert "What to do: read darwin-rebuild's error above" in result["msg"]
    assert profiles.current(darwin.profile) == 2


# --- deploy evidence: the profile and the active system (/run/current-system) -------------

def test_switch_returns_profile_and_running_system(darwin):
    run_module("darwin_rebuild", darwin.args())
    darwin.configure(SYS_B)
    result = run_module("darwin_rebuild", darwin.args())
    assert (result["generation_before"], result["generation_after"], result["profile_generation"]) == (1, 2, 2)
    assert (result["running_system_before"], result["running_system"]) == (SYS_A, SYS_B)
    assert result["running_matches_profile"] is True


def test_failed_activation_reports_the_generation_the_host_ended_on(darwin):
    # darwin-rebuild.sh runs `nix-env -p "$profile" --set "$systemConfig"` before "$systemConfig/activate".
    run_module("darwin_rebuild", darwin.args())
    darwin.configure(SYS_B, activation_error="error: Unexpected files in /etc, aborting activation")
    result = run_module("darwin_rebuild", darwin.args())
    assert result["failed"] and result["rc"] == 1
    assert "Unexpected files in /etc" in result["msg"]
    assert (result["generation_before"], result["generation_after"], result["profile_generation"]) == (1, 2, 2)
    assert (result["system_after"], result["running_system"]) == (SYS_B, SYS_A)
    assert result["running_matches_profile"] is False
    assert ("What to do: fix darwinConfigurations.blackphos in /work/fleet; the profile now points at generation 2 "
            "(%s) while the running system is %s (not the profile's system). Run playbooks/rollback-darwin.yml to "
            "return to generation 1, or fix the error and rerun" % (SYS_B, SYS_A)) in result["msg"]
    assert "unchanged" not in result["msg"]
    assert darwin.running() == SYS_A and profiles.current(darwin.profile) == 2


def test_rerun_after_failed_activation_reports_change(darwin):
    run_module("darwin_rebuild", darwin.args())
    darwin.configure(SYS_B, activation_error="error: activation failed")
    run_module("darwin_rebuild", darwin.args())
    planned = run_module("darwin_rebuild", darwin.args(), check_mode=True)
    darwin.configure(SYS_B)
    planned = run_module("darwin_rebuild", darwin.args(), check_mode=True)
    assert planned["changed"] is True, "check mode compared with the profile, not with the running system"
    fixed = run_module("darwin_rebuild", darwin.args())
    assert not fixed["failed"], fixed.get("msg")
    assert fixed["changed"] is True and fixed["generation_before"] == fixed["generation_after"] == 2
    assert (fixed["running_system_before"], fixed["running_system"]) == (SYS_A, SYS_B)


def test_switch_that_leaves_the_old_system_running_fails(darwin, tmp_path):
    run_module("darwin_rebuild", darwin.args())
    profiles.set_path(darwin.profile, SYS_B)  # as a switch whose activation silently did nothing
    noop = tmp_path / "dr-noop"
    noop.write_text('#!/bin/sh\ncase "$1" in switch) exit 0;; esac\nexec darwin-rebuild "$@"\n')
    noop.chmod(0o755)
    result = run_module("darwin_rebuild", darwin.args(darwin_rebuild_bin=str(noop)))
    assert result["failed"]
    assert result["msg"] == ("darwin_rebuild blackphos: switch succeeded but the host runs %s, not the profile's "
                             "generation 2 (%s); expected %s to be the profile's system. Run "
                             "playbooks/rollback-darwin.yml or rerun the switch" % (SYS_A, SYS_B, darwin.current))


def test_hanging_build_is_stopped_and_reports_the_host_state(darwin):
    run_module("darwin_rebuild", darwin.args())
    darwin.configure(SYS_B, hang=True)
    result = run_module("darwin_rebuild", darwin.args(timeout=2))
    assert result["failed"] and result["error_kind"] == "timeout"
    assert "timed out after 2 seconds" in result["msg"]
    assert "the host is unchanged: the profile is still at generation 1" in result["msg"]


def test_failed_rollback_activation_reports_where_it_ended(darwin):
    run_module("darwin_rebuild", darwin.args())
    darwin.configure(SYS_B)
    run_module("darwin_rebuild", darwin.args())
    # Generation 1's system now fails to activate: the profile goes back to 1, the host keeps running 2's system.
    config = json.loads((darwin.current.parent.parent / "config.json").read_text())
    config["hosts"]["old"] = {"system": SYS_A, "activation_error": "error: launchctl bootstrap failed"}
    (darwin.current.parent.parent / "config.json").write_text(json.dumps(config))
    result = run_module("darwin_rebuild", darwin.base(action="rollback"))
    assert result["failed"] and "launchctl bootstrap failed" in result["msg"]
    assert (result["generation_after"], result["running_system"]) == (1, SYS_B)
    assert ("the profile now points at generation 1 (%s) while the running system is %s (not the profile's "
            "system). Run playbooks/rollback-darwin.yml to return to generation 2" % (SYS_A, SYS_B)) in result["msg"]
