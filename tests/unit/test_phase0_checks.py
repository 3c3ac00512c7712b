"""The Phase 0 decision rule and the checks' fail-closed behaviour (plugins/module_utils/phase0.py).

The checks against the real flake and broken copies of it are in
tests/integration/test_phase0.py; here are the cases a real flake cannot
produce on demand: missing evidence, an unexpected NixOS error, a criterion
nothing checks.
"""
from __future__ import annotations

import pytest

from ansible_collections.fleet.migration.plugins.module_utils import phase0

SEVERITIES = {"a": "blocking", "nixos_evaluates": "condition"}
MACHINES = {"srv": {"machineClass": "nixos", "tags": ["server", "all", "nixos"]},
            "mac": {"machineClass": "darwin", "tags": ["workstation", "all", "darwin"]}}


def test_all_pass_is_go():
    results = {"a": phase0.result(True, "", "", ""), "nixos_evaluates": phase0.result(True, "", "", "")}
    assert phase0.decide(results, SEVERITIES)["decision"] == "GO"


def test_only_offline_limited_condition_fails_is_conditional_go():
    offline_error = phase0.Missing("error:\n  … \n  error: " + phase0.OFFLINE_NIXOS_MARKER)
    nixos = phase0.check_configurations_evaluate("nixos", MACHINES, {"srv": offline_error}, offline=True)
    verdict = phase0.decide({"a": phase0.result(True, "", "", ""), "nixos_evaluates": nixos}, SEVERITIES)
    assert verdict["decision"] == "CONDITIONAL GO"
    assert verdict["failed_conditions"] == ["nixos_evaluates"]
    assert nixos["found"] == "srv: not evaluable offline (full nixpkgs unavailable)"


def test_condition_failing_for_another_reason_blocks():
    nixos = phase0.check_configurations_evaluate(
        "nixos", MACHINES, {"srv": phase0.Missing("error: The option `services.foo' does not exist.")}, offline=True)
    verdict = phase0.decide({"a": phase0.result(True, "", "", ""), "nixos_evaluates": nixos}, SEVERITIES)
    assert verdict["decision"] == "NO-GO"
    assert verdict["failed_blocking"] == ["nixos_evaluates"]
    assert "srv: error: The option `services.foo' does not exist." in nixos["found"]


def test_the_offline_marker_is_not_excused_online():
    nixos = phase0.check_configurations_evaluate(
        "nixos", MACHINES, {"srv": phase0.Missing("error: " + phase0.OFFLINE_NIXOS_MARKER)}, offline=False)
    assert phase0.decide({"nixos_evaluates": nixos}, SEVERITIES)["decision"] == "NO-GO"


def test_a_listed_criterion_nothing_checked_blocks():
    verdict = phase0.decide({"nixos_evaluates": phase0.result(True, "", "", "")}, SEVERITIES)
    assert verdict == {"decision": "NO-GO", "failed_blocking": ["a"], "failed_conditions": [], "unchecked": ["a"]}


def test_an_unlisted_criterion_blocks():
    verdict = phase0.decide({"new": phase0.result(False, "", "", "")}, {})
    assert verdict["failed_blocking"] == ["new"]


def test_missing_evidence_fails_with_the_reason():
    res = phase0.check_seed_machines({"srv": {"class": "nixos"}}, phase0.Missing("nix evaluation failed: boom"))
    assert not res["ok"]
    assert res["found"] == "no evidence: nix evaluation failed: boom"


def test_service_requirement_without_instance():
    data = {"machines": MACHINES, "instances": {}}
    res = phase0.check_service_requirement(
        "users_root", {"modules": ["users"], "instance": "users-root", "role": "default", "members_tagged": "server"},
        data, {})
    assert res["found"] == "no instance of users named users-root"


def test_exact_membership_rejects_surplus_holders():
    data = {"machines": MACHINES, "instances": {"ea": {"module": {"name": "emergency-access"}, "roles": {}}}}
    resolved = {"ea": {"default": ["mac", "srv"]}}
    res = phase0.check_service_requirement(
        "emergency_access",
        {"modules": ["emergency-access"], "role": "default", "members_tagged": "server", "exact": True},
        data, resolved)
    assert res["found"] == "default: ['mac'] hold the role but are not tagged server"


def test_flake_nix_with_logic_in_outputs_fails():
    text = ("outputs = inputs: (inputs.flake-parts.lib.mkFlake { inherit inputs; } (inputs.import-tree ./modules))"
            " // { x = 1; };")
    res = phase0.check_flake_structure(text, {"modules/a.nix": "function"})
    assert res["found"] == "flake.nix: outputs is not only mkFlake over import-tree ./modules"
    good = ("{ inputs = { }; outputs = inputs: inputs.flake-parts.lib.mkFlake { inherit inputs; }"
            " (inputs.import-tree ./modules); }")
    assert phase0.check_flake_structure(good, {"modules/a.nix": "function", "modules/_lib.nix": "ignored"})["ok"]


GONE = phase0.Missing("nix evaluation failed: gone")


@pytest.mark.parametrize("check, expected, hint", [
    (lambda: phase0.check_flake_structure(GONE, {}),
     "flake.nix outputs = inputs: inputs.flake-parts.lib.mkFlake { inherit inputs; } (inputs.import-tree ./modules)",
     "keep logic out of flake.nix; put each aspect in its own file under modules/; git add new files "
     "(git add -N is enough); prefix helper files that are not modules with _"),
    (lambda: phase0.check_seed_machines({"srv": {"class": "nixos"}}, GONE),
     "clan inventory has the 1 seed machines with their class and phase tag",
     "add or fix the machine in modules/clan/inventory/machines.nix (machineClass, tags phaseN)"),
    (lambda: phase0.check_machine_configurations(GONE, {}, []),
     "every inventory machine <m> of class <c>: modules/machines/<c>/<m>.nix defines clan.machines.<m>",
     "create modules/machines/<class>/<machine>.nix setting clan.machines.<machine> (and git add it)"),
    (lambda: phase0.check_service_requirement("sshd", {"modules": ["sshd"], "role": "server"}, GONE, {}),
     "sshd", "fix modules/clan/inventory/instances/"),
    (lambda: phase0.check_generators({"sshd": ["openssh"]}, GONE, {}, []),
     "fleet.generators declares ['openssh'], each with files and a script in the repository",
     "declare the generator in modules/vars/generators.nix and add its script under vars/generators/"),
    (lambda: phase0.check_configurations_evaluate("darwin", GONE, {}, offline=True),
     "darwinConfigurations.<m>.config evaluates for every darwin machine",
     "run `nix eval .#darwinConfigurations.<m>.config.networking.hostName --show-trace` and fix the module it names"),
])
def test_missing_evidence_fails_closed_saying_what_was_expected_and_what_to_do(check, expected, hint):
    res = check()
    assert res["ok"] is False
    assert res["found"] == "no evidence: nix evaluation failed: gone"
    assert res["expected"].startswith(expected)
    assert res["hint"] == hint


def test_phase_playbooks_names_a_machine_whose_phase_has_no_playbook(tmp_path):
    (tmp_path / "phase1.yml").write_text("---\n")
    machines = {"a": {"tags": ["phase1"]}, "b": {"tags": ["phase7"]}, "c": {"tags": ["server"]}}
    res = phase0.check_phase_playbooks(machines, str(tmp_path))
    assert not res["ok"]
    assert res["found"] == (
        "b: phase tag: expected playbooks/phase7.yml for its tag phase7; found no such playbook. Move the machine to a "
        "phase that has a playbook (modules/clan/inventory/machines.nix) or add the playbook; "
        "c: phase tag: expected exactly one tag phaseN; found none. Give the machine one phase tag in "
        "modules/clan/inventory/machines.nix (docs/PHASES.md lists the phases)"
    )
    assert phase0.check_phase_playbooks({"a": {"tags": ["phase1"]}}, str(tmp_path))["ok"]
