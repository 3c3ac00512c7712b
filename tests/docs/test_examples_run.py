"""Every module's EXAMPLES, run as written by ansible-playbook against the contract fakes.

test_examples.py checks each example's options against the documentation; this runs them. The
EXAMPLES text is taken from `ansible-doc --json` and every task is run verbatim, in order, in one
play per module, on a host of the real inventory (tests/integration/phase_helpers.py writes it
from the clan plugin, every host on the local connection) with the fakes of tests/fakes on PATH.
What a fake cannot know from the example (where its state lives) comes from module_defaults, as a
playbook would set it; the examples' own options always win over those.

Each task must succeed, except the ones in EXPECTED: those must fail with the given text (a gate
on an empty ledger says NO-GO; that refusal is the example's point). The nix-backed modules
(nix_flake, phase0_check) evaluate the real flake, for which there is no fake: NOT_RUN says where
their calls run for real.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

import docsupport as ds

sys.path.insert(0, str(ds.REPO / "tests" / "integration"))
import phase_helpers as H  # noqa: E402
from fakes._state import host_root  # noqa: E402

pytestmark = [pytest.mark.nix, pytest.mark.slow]

# Modules whose EXAMPLES are not run here, and what runs the same calls for real instead.
NOT_RUN = {
    "fleet.migration.nix_flake": "real nix on the real flake (no fake of nix): tests/integration/test_nix_flake_real.py",
    "fleet.migration.phase0_check": "real nix on the real flake (no fake of nix): tests/integration/test_phase0.py",
}
# (module, example task name) -> text its failure must contain.
EXPECTED = {
    ("fleet.migration.stability_gate", "Gate phase 3 on each of its hosts having been stable for a week"):
        "phase 3 gate: NO-GO. rosegold: deployed: expected a successful deployment recorded in the ledger; "
        "found no deployment recorded.",
    ("fleet.migration.stability_gate", "Require the phase 2 gate before phase 3 deploys (read-only)"):
        "phase 3 preflight: NO-GO. blackphos: phase2_gate: expected a standing GO decision of the phase 2 gate; "
        "found no gate decision recorded.",
}
# The host each module's examples run on (they template inventory_hostname, ansible_host ...).
HOST = {
    "fleet.migration.clan_machine": "cinnabar",
    "fleet.migration.clan_vars": "cinnabar",
    "fleet.migration.darwin_rebuild": "blackphos",
    "fleet.migration.ledger_record": "cinnabar",
    "fleet.migration.mesh_probe": "cinnabar",
    "fleet.migration.stability_gate": "cinnabar",
    "fleet.migration.terraform": "localhost",
}
# What the fakes' state must hold before a module's examples run, as tasks of the same play
# (e.g. a project that the destroy example can destroy, made by the module itself).
SETUP = {
    "fleet.migration.terraform": [
        {"name": "Setup: the state passphrase cinnabar's vars hold",
         "ansible.builtin.command": {"argv": ["clan", "vars", "generate", "--flake", "{{ fleet_flake }}", "cinnabar"]},
         "changed_when": True},
        {"name": "Setup: the gcp project, applied once (the destroy example needs state)",
         "fleet.migration.terraform": {
             "project_path": "{{ playbook_dir }}/../.cache/terraform/gcp",
             "config_json": "{{ playbook_dir }}/../.cache/terranix/gcp.tf.json",
             "sensitive_variables": {"state_passphrase": "{{ lookup('ansible.builtin.pipe', 'clan vars get --flake '"
                                                         " ~ fleet_flake ~ ' cinnabar terraform-state/passphrase') }}"}}},
    ],
}
FAKE_SUDO = """#!/bin/sh
# become: true on the local connection: drop sudo's options and run the command (the tests run as root).
while [ $# -gt 0 ]; do case "$1" in -u|-p) shift 2;; -*) shift;; *) break;; esac; done
exec "$@"
"""


def _examples(fqcn: str) -> list[dict]:
    return yaml.safe_load(ds.module_docs()[fqcn]["examples"])


def test_every_module_is_run_or_accounted_for() -> None:
    modules = set(ds.module_docs())
    assert set(HOST) | set(NOT_RUN) == modules, (
        f"expected every module to be in HOST (its EXAMPLES run) or NOT_RUN of {__name__}; found "
        f"{sorted(modules - set(HOST) - set(NOT_RUN))} in neither and {sorted((set(HOST) | set(NOT_RUN)) - modules)} "
        "that are not modules. Add the module to HOST with what its fake needs.")
    for fqcn, where in NOT_RUN.items():
        path = ds.REPO / where.rsplit(": ", 1)[1]
        assert path.is_file(), f"{fqcn}: expected {path} (NOT_RUN names it); found none. Fix NOT_RUN."
    names = {(m, t.get("name")) for m in HOST for t in _examples(m)}
    assert set(EXPECTED) <= names, f"expected every EXPECTED entry to name an example task; stale: {set(EXPECTED) - names}"


def _terranix(tmp: Path) -> None:
    """The terranix outputs the terraform examples read: hetzner (state encrypted with the
    passphrase variable) and gcp (the GPU node scheelite), shaped like modules/terranix."""
    enc = {"key_provider": {"pbkdf2": {"fleet": {"passphrase": "${var.state_passphrase}"}}},
           "method": {"aes_gcm": {"fleet": {"keys": "${key_provider.pbkdf2.fleet}"}}},
           "state": {"method": "${method.aes_gcm.fleet}", "enforced": True},
           "plan": {"method": "${method.aes_gcm.fleet}", "enforced": True}}
    hetzner = {"variable": {"state_passphrase": {"type": "string", "sensitive": True}},
               "terraform": {"encryption": enc},
               "resource": {"hcloud_server": {"cinnabar": {"name": "cinnabar", "server_type": "cx53"}}}}
    gcp = {"variable": hetzner["variable"], "terraform": {"encryption": enc},
           "resource": {"google_compute_instance": {"scheelite": {"name": "scheelite", "machine_type": "g2"}}}}
    out = tmp / ".cache" / "terranix"
    out.mkdir(parents=True)
    (out / "hetzner.tf.json").write_text(json.dumps(hetzner))
    (out / "gcp.tf.json").write_text(json.dumps(gcp))


def _setup(tmp: Path) -> dict:
    """The fakes' state every module's examples start from; returns the play's module_defaults and vars."""
    hosts = sorted(H.machines())
    clan = H.fake_clan_state(tmp / "clan-state", hosts)
    for machine in clan["machines"].values():
        # The generators the examples name (the flake declares them: test_examples.py checks that).
        machine["generators"].update({g: {"files": {"value": {"secret": True}}}
                                      for g in ("zerotier-identity", "zerotier-ip", "openssh-cert")})
        machine["generators"]["terraform-state"] = {"files": {"passphrase": {"secret": True}}}
    (tmp / "clan-state" / "flake.json").write_text(json.dumps(clan))
    for machine in clan["machines"].values():
        # Every host starts as a fresh cloud VM's stock Debian: what the install example expects.
        root = host_root(tmp / "clan-state", machine["targetHost"])
        (root / "etc").mkdir(parents=True, exist_ok=True)
        (root / "etc" / "os-release").write_text('NAME="Debian GNU/Linux"\nID=debian\n')
    darwin = tmp / "darwin-state"
    (darwin / "profiles").mkdir(parents=True)
    config = {"hosts": {h: {"system": f"/nix/store/{i:032d}-darwin-system-{h}"} for i, h in enumerate(hosts)}}
    (darwin / "config.json").write_text(json.dumps(config))
    for number in (40, 41, 42):  # a host with history: the rollback example returns to generation 41
        (darwin / "profiles" / f"system-{number}-link").symlink_to(f"/nix/store/{number:032d}-darwin-system")
    (darwin / "profiles" / "system").symlink_to("system-42-link")
    (tmp / "home" / ".ssh").mkdir(parents=True)
    (tmp / "home" / ".ssh" / "id_ed25519").write_text("fake key\n")
    _terranix(tmp)
    return {
        "module_defaults": {
            "fleet.migration.darwin_rebuild": {"profile": str(darwin / "profiles" / "system"),
                                               "current_system": str(darwin / "run" / "current-system")},
            "group/fleet.migration.ledger": {"ledger_path": str(tmp / "ledger.sqlite")},
        },
        "vars": {"fleet_ledger_path": str(tmp / "ledger.sqlite"), "hcloud_token": "fake-hcloud-token",
                 "ansible_become_exe": str(tmp / "bin" / "sudo")},
    }


@pytest.mark.parametrize("fqcn", sorted(HOST))
def test_module_examples_run_against_the_fakes(fqcn: str, tmp_path: Path) -> None:
    from fakes import install

    bin_dir = install(tmp_path / "bin")
    (bin_dir / "sudo").write_text(FAKE_SUDO)
    (bin_dir / "sudo").chmod(0o755)
    context = _setup(tmp_path)
    inventory = H.write_inventory(tmp_path / "inventory")
    tasks, names = list(SETUP.get(fqcn, [])), []
    for index, example in enumerate(_examples(fqcn)):
        names.append(example.get("name", f"task {index + 1}"))
        tasks.append({**example, "register": f"fleet_example_{index}", "ignore_errors": True})
    results = tmp_path / "results.json"
    tasks.append({"name": "Keep every example's result", "delegate_to": "localhost", "ansible.builtin.copy": {
        "dest": str(results), "mode": "0644",
        "content": "{{ [" + ", ".join(f"fleet_example_{i}" for i in range(len(names))) + "] | to_json }}"}})
    play = [{"name": f"EXAMPLES of {fqcn}", "hosts": HOST[fqcn], "gather_facts": False, **context, "tasks": tasks}]
    (tmp_path / "pb").mkdir()
    playbook = tmp_path / "pb" / "examples.yml"
    playbook.write_text(yaml.safe_dump(play, sort_keys=False))
    env = {"HOME": str(tmp_path / "home"), "FAKE_TOFU_STATE": str(tmp_path / "tofu-state")}
    proc = _run(playbook, inventory, tmp_path, env)
    assert results.is_file(), proc.stdout[-4000:] + proc.stderr[-2000:]
    problems = []
    for name, result in zip(names, json.loads(results.read_text())):
        expected = EXPECTED.get((fqcn, name))
        text = json.dumps(result.get("msg", ""))
        if result.get("skipped"):
            problems.append(f"{name}: expected the example to run; found it skipped ({result.get('false_condition')})")
        elif expected is None and result.get("failed"):
            problems.append(f"{name}: expected success; found failure: {text[:1500]}")
        elif expected is not None and not (result.get("failed") and expected in text):
            problems.append(f"{name}: expected a failure containing {expected!r}; found {text[:1500]}")
    assert not problems, f"{fqcn} EXAMPLES against the fakes:\n" + "\n".join(problems)


def _run(playbook: Path, inventory: Path, tmp: Path, env: dict) -> subprocess.CompletedProcess:
    environ = dict(os.environ)
    environ.pop("FLEET_LEDGER_PATH", None)
    environ.update({
        "ANSIBLE_CONFIG": str(ds.REPO / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1", "ANSIBLE_INVENTORY_CACHE": "False",
        "ANSIBLE_LOCAL_TEMP": str(tmp / "ansible-tmp"), "ANSIBLE_CACHE_PLUGIN_CONNECTION": str(tmp / "facts"),
        "PATH": f"{tmp / 'bin'}:{ds.VENV_BIN}:{os.environ['PATH']}",
        "FAKE_CLAN_STATE": str(tmp / "clan-state"), "FAKE_DARWIN_STATE": str(tmp / "darwin-state"), **env,
    })
    return subprocess.run([str(ds.VENV_BIN / "ansible-playbook"), str(playbook), "-i", str(inventory)],
                          cwd=tmp, env=environ, capture_output=True, text=True, timeout=600, check=False)
