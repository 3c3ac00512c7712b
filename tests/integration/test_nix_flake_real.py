"""fleet.migration.nix_flake against the real nix (no fake): eval of the fleet flake, and check/build of a
tiny flake written per test (a derivation whose builder is /bin/sh, which builds without any binary cache)."""
from __future__ import annotations

import json
import os

import pytest

from fakes.harness import run_module
from support import nix as nixsupport

pytestmark = pytest.mark.nix

TINY = """{
  outputs = _: {
    value = { nonce = "%(nonce)s"; };
    packages.x86_64-linux.ok = builtins.derivation {
      name = "fleet-nix-flake-%(nonce)s"; system = "x86_64-linux"; builder = "/bin/sh";
      args = [ "-c" "echo %(nonce)s > $out" ];
    };
    packages.x86_64-linux.broken = builtins.derivation {
      name = "fleet-nix-flake-broken-%(nonce)s"; system = "x86_64-linux"; builder = "/bin/sh";
      args = [ "-c" "echo the build script failed >&2; exit 3" ];
    };
    # Blocks until someone writes to the FIFO named by $FLEET_TEST_FIFO (needs --impure).
    blocked = { value = builtins.readFile (builtins.getEnv "FLEET_TEST_FIFO"); };
  };
}
"""


@pytest.fixture
def tiny(tmp_path):
    flake = tmp_path / "tiny"
    flake.mkdir()
    nonce = os.urandom(6).hex()
    (flake / "flake.nix").write_text(TINY % {"nonce": nonce})
    return flake, nonce


def test_eval_fleet_flake_matches_shared_helper(repo):
    result = run_module("nix_flake", dict(flake=str(repo), attr="fleet.ports"))
    assert not result["failed"], result.get("msg")
    assert result["value"] == nixsupport.nix_eval("fleet.ports")
    assert result["changed"] is False
    assert "--override-input" in result["cmd"] or os.environ.get("FLEET_NIX_ONLINE") == "1"


def test_eval_with_apply_lists_inventory_machines(repo):
    result = run_module("nix_flake", dict(flake=str(repo), attr="clan.inventory.machines",
                                          apply="builtins.attrNames"))
    assert result["value"] == sorted(nixsupport.inventory())


def test_eval_missing_attribute_is_structured(repo):
    result = run_module("nix_flake", dict(flake=str(repo), attr="fleet.no_such_attribute"))
    assert result["failed"]
    assert result["error"]["kind"] == "eval_error" and result["error"]["rc"] == 1
    assert "no_such_attribute" in result["error"]["stderr"]
    assert "fix the flake so that it evaluates" in result["msg"]


def test_flake_without_flake_nix_is_flake_not_found(tmp_path):
    result = run_module("nix_flake", dict(flake=str(tmp_path), attr="x"))
    assert result["failed"] and result["error"]["kind"] == "flake_not_found"
    assert "to contain flake.nix" in result["msg"]


def test_missing_nix_binary(tiny):
    flake = tiny[0]
    result = run_module("nix_flake", dict(flake=str(flake), attr="value", nix_bin="nix-not-installed", offline="never"))
    assert result["failed"] and result["error"]["kind"] == "nix_missing"
    assert "nix not found: expected the 'nix-not-installed' executable on PATH" in result["msg"]
    assert "install nix (scripts/setup does it) or set nix_bin to its path" in result["msg"]


def test_eval_timeout(tiny, tmp_path):
    flake = tiny[0]
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    result = run_module("nix_flake", dict(flake=str(flake), attr="blocked.value", offline="never", timeout=2,
                                          nix_flags=["--impure"], environment={"FLEET_TEST_FIFO": str(fifo)}))
    assert result["failed"] and result["error"]["kind"] == "timeout"
    assert "raise the timeout option" in result["msg"]


def test_check_tiny_flake(tiny):
    flake = tiny[0]
    result = run_module("nix_flake", dict(flake=str(flake), action="check", offline="never",
                                          nix_flags=["--no-build"]))
    assert not result["failed"], result.get("msg")
    assert result["changed"] is False and result["cmd"][:3] == ["nix", "flake", "check"]


def test_build_with_out_link_is_idempotent_and_check_mode_builds_nothing(tiny, tmp_path):
    flake, nonce = tiny
    link = tmp_path / "result-ok"
    args = dict(flake=str(flake), action="build", attr="packages.x86_64-linux.ok", offline="never",
                out_link=str(link))
    dry = run_module("nix_flake", args, check_mode=True)
    assert not dry["failed"], dry.get("msg")
    assert dry["changed"] is True and dry["out_paths"][0].endswith("fleet-nix-flake-%s" % nonce)
    assert not link.exists() and not os.path.exists(dry["out_paths"][0])
    first = run_module("nix_flake", args, diff=True)
    assert first["changed"] is True and first["out_paths"] == dry["out_paths"]
    assert link.read_text().strip() == nonce
    assert first["diff"]["after"] == "%s -> %s\n" % (link, dry["out_paths"][0])
    second = run_module("nix_flake", args)
    assert second["changed"] is False
    again_dry = run_module("nix_flake", args, check_mode=True)
    assert again_dry["changed"] is False


def test_build_failure_is_build_error(tiny):
    flake = tiny[0]
    result = run_module("nix_flake", dict(flake=str(flake), action="build", attr="packages.x86_64-linux.broken",
                                          offline="never"))
    assert result["failed"] and result["error"]["kind"] == "build_error"
    assert "the build script failed" in result["msg"]
    assert "nix log" in result["msg"]


def test_flake_check_failure_is_structured(tmp_path):
    flake = tmp_path / "failing"
    flake.mkdir()
    (flake / "flake.nix").write_text('{ outputs = _: { checks.x86_64-linux.bad = throw "fleet check exploded"; }; }\n')
    result = run_module("nix_flake", dict(flake=str(flake), action="check", offline="never", nix_flags=["--no-build"]))
    assert result["failed"] and result["error"]["kind"] == "eval_error"
    assert result["msg"].startswith("nix flake check failed (exit 1) for '%s':\n" % flake)
    assert "fleet check exploded" in result["msg"]
    assert result["msg"].endswith("fix the flake so that it evaluates, then rerun")


def test_eval_output_that_is_not_json(tiny, tmp_path):
    fake_nix = tmp_path / "nix-prints-text"
    fake_nix.write_text("#!/bin/sh\necho not json\n")
    fake_nix.chmod(0o755)
    flake = tiny[0]
    result = run_module("nix_flake", dict(flake=str(flake), attr="value", nix_bin=str(fake_nix), offline="never"))
    assert result["failed"] and result["error"]["kind"] == "bad_output"
    assert result["msg"] == ("nix printed no JSON for '%s#value': found 'not json\\n'; check nix_flags for options "
                             "that change the output" % flake)


def test_secret_environment_is_scrubbed_from_nix_errors(tiny, tmp_path):
    fake_nix = tmp_path / "nix-echoes-config"
    fake_nix.write_text('#!/bin/sh\necho "error: bad setting in NIX_CONFIG: $NIX_CONFIG" >&2\nexit 1\n')
    fake_nix.chmod(0o755)
    token = "github.com=ghp_notarealtoken0123456789"
    result = run_module("nix_flake", dict(flake=str(tiny[0]), attr="value", nix_bin=str(fake_nix), offline="never",
                                          secret_environment={"NIX_CONFIG": "access-tokens = " + token}))
    assert result["failed"] and result["error"]["kind"] == "eval_error"
    assert "bad setting in NIX_CONFIG: ********" in result["msg"], "NIX_CONFIG did not reach nix, or was not scrubbed"
    assert token not in json.dumps(result)
