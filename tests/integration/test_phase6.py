"""Phase 6 end to end: provision (terranix -> OpenTofu), install, deploy, verify, gate; toggling nodes.

What is real here: ansible-playbook, playbooks/phase0.yml, phase1.yml, phase6.yml, provision-steps.yml,
nodes.yml and their task files, the terranix render of this repository's flake (`nix eval .#lib.terranix`,
offline flags), the terraform / clan_machine / clan_vars / ledger modules, the verification roles, the gates.
What is not: the clouds and the hosts. OpenTofu is the contract fake tests/fakes/fake_tofu.py, which reads the
real render (every resource, the enable flags, the encryption block) and, like the cloud behind the provider,
boots a created instance from its stock Debian image and deletes its disk with it; clan (whose `machines
install` runs nixos-anywhere: kexec, disko, NixOS generation 1) and ssh are their fakes, and every host is
reached over the local connection. The install step's probe reads the same machine tree as the fakes
(fleet_install_nixos_markers / fleet_install_os_release point into it), so a node runs no NixOS until clan
installed it.

Phase 6 needs a standing GO of phase 1 (fleet_gate_requires_phase, docs/PHASES.md). Nothing is seeded: the
module fixture runs phase 0 and phase 1 for real against local stand-ins of phase 1's servers
(tests/integration/local_fleet.py, every verify role real), with the stability window shortened to seconds, and
each test starts from a copy of what those runs left (ledger, fake clan state). The phase-6 nodes are checked
with the real mesh_verify role only (fleet_verify_roles=[mesh_verify]): the roles that need a real sshd,
nftables or systemd run for phase 1's stand-ins; the mesh is 127.0.0.1 with a listener for the peers' port.
"""
from __future__ import annotations

import json
import shutil
import socket
import sqlite3
import sys
import threading
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import phase_helpers as H  # noqa: E402
from fakes import install  # noqa: E402
from fakes._state import host_name  # noqa: E402
from local_fleet import LocalFleet  # noqa: E402

PHASE1_WINDOW_MINUTES = 0.25

pytestmark = [pytest.mark.nix, pytest.mark.slow]

PASSPHRASE = "fleet-test-state-passphrase-0123"
CREDENTIALS = {
    "state_passphrase": PASSPHRASE,
    "hcloud_token": "hcloud-test-token-not-real",
    "gcp_credentials": "{\"type\": \"service_account\"}",
    "gcp_project": "fleet-test",
    "admin_ssh_public_key": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFleetTestKeyOnly admin@fleet",
}


@pytest.fixture(scope="module")
def mesh_port():
    """A listener that accepts (and closes) every connection: the peers' ssh port over the 'mesh'."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(64)
    stop = threading.Event()

    def serve():
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _peer = server.accept()
                conn.close()
            except OSError:
                continue

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join()
    server.close()


def phase0_conditions() -> list[str]:
    import yaml

    criteria = yaml.safe_load((H.REPO / "playbooks" / "vars" / "phase0.yml").read_text())["phase0_criteria"]
    return sorted(name for name, c in criteria.items() if c["severity"] == "condition")


def fqdn(host: str) -> str:
    """The host part of the machine's deploy.targetHost: the name its fake tree is found under (as DNS)."""
    return host_name(H.machines()[host]["deploy"]["targetHost"])


def probe_vars(clan_state: Path, hosts: list[str]) -> dict[str, dict]:
    """Stand-ins whose install probe reads the machine tree the fakes of clan and ssh share."""
    found = {}
    for host in hosts:
        root = clan_state / "hosts" / fqdn(host)
        found[host] = {"fleet_stand_in": True,
                       "fleet_install_nixos_markers": [str(root / "etc" / "NIXOS"), str(root / "run" / "current-system")],
                       "fleet_install_os_release": str(root / "etc" / "os-release")}
    return found


INSTALL_PHASE1 = ["-e", json.dumps({"fleet_install_phases": [1, 6]})]


@pytest.fixture(scope="module")
def phase1_go(tmp_path_factory):
    """Phases 0 and 1 run for real, up to phase 1's GO: the precondition of phase 6, produced, not seeded."""
    tmp = tmp_path_factory.mktemp("phase1")
    listing = H.plugin_inventory()["_meta"]["hostvars"]
    servers = H.hosts_in_phase(1)
    fleet = LocalFleet(tmp / "standins", {h: listing[h] for h in servers}).start()
    try:
        probes = probe_vars(tmp / "clan-state", servers)
        hostvars = {h: fleet.hostvars(h) | probes[h] for h in servers}
        inventory = H.write_inventory(tmp / "inventory", extra_hostvars=hostvars)
        H.fake_clan_state(tmp / "clan-state", H.hosts_tagged("cloud"))
        # The servers as they run before their first migration: Debian VPSs, no NixOS.
        for host in servers:
            etc = tmp / "clan-state" / "hosts" / fqdn(host) / "etc"
            etc.mkdir(parents=True)
            (etc / "os-release").write_text('NAME="Debian GNU/Linux"\nID=debian\nVERSION_ID="12"\n')
        (tmp / "flake").mkdir()
        ledger = tmp / "ledger.sqlite"
        args = ["-e", f"fleet_gate_host_stable_minutes={PHASE1_WINDOW_MINUTES}", "-e", "fleet_gate_accept_stand_ins=true",
                "-e", json.dumps({"fleet_phase0_accepted_conditions": phase0_conditions()}), *INSTALL_PHASE1]
        runs = {}
        runs["phase0"] = H.run_playbook("phase0.yml", inventory, ledger, tmp, *args)
        assert runs["phase0"].returncode == 0, runs["phase0"].stdout[-3000:]
        started = time.time()
        runs["first"] = H.run_playbook("phase1.yml", inventory, ledger, tmp, *args)
        # NO-GO while the window runs (docs/PHASES.md, "A phase over time"); the whole phase runs again after it.
        time.sleep(max(0.0, started + PHASE1_WINDOW_MINUTES * 60 + 2 - time.time()))
        runs["again"] = H.run_playbook("phase1.yml", inventory, ledger, tmp, *args)
        text = " ".join((runs["again"].stdout + runs["again"].stderr).split())
        assert runs["again"].returncode == 0 and "Phase 1 gate: GO" in runs["again"].stdout, text[-4000:]
        yield {"tmp": tmp, "runs": runs, "clan_calls": (tmp / "clan-state" / "calls.jsonl").read_text()}
    finally:
        fleet.stop()


def copy_ledger(source: Path, target: Path) -> None:
    """SQLite's online backup: every row the phase 0 and phase 1 runs wrote, byte for byte (chain included)."""
    with sqlite3.connect(f"file:{source}?mode=ro", uri=True) as src, sqlite3.connect(target) as dst:
        src.backup(dst)


@pytest.fixture
def env(tmp_path, mesh_port, phase1_go):
    phase1_go = phase1_go["tmp"]
    clan_state = tmp_path / "clan-state"
    shutil.copytree(phase1_go / "clan-state", clan_state, symlinks=True)
    shutil.copytree(phase1_go / "flake", tmp_path / "flake", symlinks=True)
    copy_ledger(phase1_go / "ledger.sqlite", tmp_path / "ledger.sqlite")
    # Each node's name points at the machine the cloud made for it (fake_tofu.py's machines/), as DNS would.
    for host in H.hosts_in_phase(6):
        (clan_state / "hosts").mkdir(exist_ok=True)
        (clan_state / "hosts" / fqdn(host)).symlink_to(tmp_path / "tofu-calls" / "machines" / host)
    (clan_state / "calls.jsonl").unlink(missing_ok=True)  # this test's clan calls only
    inventory = H.write_inventory(tmp_path / "inventory", extra_hostvars=probe_vars(clan_state, H.hosts_in_phase(6)))
    install(tmp_path / "bin", ["tofu"])
    creds = tmp_path / "credentials.json"
    creds.write_text(json.dumps({"fleet_tofu_credentials": CREDENTIALS}))
    return {"inv": inventory, "ledger": tmp_path / "ledger.sqlite", "tmp": tmp_path, "creds": creds,
            "port": mesh_port, "tofu": tmp_path / "tofu"}


def run(env, playbook, *extra):
    test_vars = [
        "-e", "fleet_gate_host_stable_minutes=10",
        "-e", "fleet_gate_accept_stand_ins=true",
        "-e", "fleet_darwin_become=false",
        "-e", f"fleet_terranix_flake={H.REPO}",
        "-e", f"fleet_tofu_dir={env['tofu']}",
        "-e", f"@{env['creds']}",
        "-e", '{"fleet_verify_roles": ["mesh_verify"]}',
        "-e", "fleet_mesh_address=127.0.0.1",
        "-e", f"mesh_verify_port={env['port']}",
        "-e", "fleet_install_connect_timeout=5",
        "-e", "fleet_install_reboot_timeout=5",
    ]
    return H.run_playbook(playbook, env["inv"], env["ledger"], env["tmp"], *test_vars, *extra,
                          env={"FAKE_TOFU_STATE": str(env["tmp"] / "tofu-calls")})


def enabled(**flags) -> list[str]:
    return ["-e", json.dumps({"fleet_nodes_enabled": flags})]


def clan_calls(env) -> list[list[str]]:
    path = env["tmp"] / "clan-state" / "calls.jsonl"
    return [json.loads(line)["argv"] for line in path.read_text().splitlines()] if path.exists() else []


def installs_of(env) -> list[str]:
    return [c[3] for c in clan_calls(env) if c[1:3] == ["machines", "install"]]


def events(env, **kw):
    with H.ledger_mod.Ledger(str(env["ledger"]), create=False) as led:
        return led.events(**kw)


def tofu_state(env, cloud: str) -> dict:
    """The fake's state of a cloud, through the fake itself (`show -json`), as the module reads it."""
    import os
    import subprocess
    proc = subprocess.run(["tofu", "show", "-json"], cwd=env["tofu"] / cloud, capture_output=True, text=True,
                          env={**os.environ, "PATH": f"{env['tmp'] / 'bin'}:{os.environ['PATH']}",
                               "FAKE_TOFU_STATE": str(env["tmp"] / "tofu-calls"),
                               **{f"TF_VAR_{k}": v for k, v in CREDENTIALS.items()}}, check=False)
    assert proc.returncode == 0, proc.stderr
    shown = json.loads(proc.stdout)
    return {r["address"]: r["values"] for r in shown.get("values", {}).get("root_module", {}).get("resources", [])}


def out(res) -> str:
    return " ".join((res.stdout + res.stderr).split())


def test_every_machine_has_a_phase_with_a_playbook():
    sys.path.insert(0, str(H.REPO / "plugins" / "module_utils"))
    import phase_tags
    assert phase_tags.problems(H.machines(), str(H.REPO / "playbooks")) == []
    assert H.hosts_in_phase(6) == ["electrum", "galena", "scheelite"]


def test_phase_tag_without_playbook_names_the_machine(tmp_path):
    sys.path.insert(0, str(H.REPO / "plugins" / "module_utils"))
    import phase_tags
    (tmp_path / "phase1.yml").write_text("---\n")
    machines = {"cinnabar": {"tags": ["phase1"]}, "galena": {"tags": ["cloud", "phase7"]},
                "loose": {"tags": ["server"]}}
    assert phase_tags.problems(machines, str(tmp_path)) == [
        "galena: phase tag: expected playbooks/phase7.yml for its tag phase7; found no such playbook. Move the "
        "machine to a phase that has a playbook (modules/clan/inventory/machines.nix) or add the playbook",
        "loose: phase tag: expected exactly one tag phaseN; found none. Give the machine one phase tag in "
        "modules/clan/inventory/machines.nix (docs/PHASES.md lists the phases)",
    ]
    with pytest.raises(phase_tags.PhaseTagError, match="^galena: phase tag"):
        phase_tags.check(machines, str(tmp_path))


def test_phase1_installs_its_servers_once_then_updates_them(phase1_go):
    """Phase 1's first migration: the same install step as phase 6, asked for by name (fleet_install_phases)."""
    tmp = phase1_go["tmp"]
    calls = [json.loads(line)["argv"] for line in phase1_go["clan_calls"].splitlines()]
    servers = H.hosts_in_phase(1)
    # Installed exactly once each, on the first run: the rerun's probe showed NixOS, so it only updated.
    assert sorted(c[3] for c in calls if c[1:3] == ["machines", "install"]) == servers
    with H.ledger_mod.Ledger(str(tmp / "ledger.sqlite"), create=False) as led:
        installs = [e for e in led.events(kind="provision") if e.check == "install"]
        deployments = [e for e in led.events(kind="deployment") if e.phase == 1]
    assert sorted((e.host, e.evidence["installed"], e.evidence["probe"]) for e in installs) == sorted(
        [(h, True, "not-nixos debian") for h in servers] + [(h, False, "nixos") for h in servers])
    assert all(e.ok and e.phase == 1 for e in installs)
    # Installed at generation 1, the deploy step then updates in place: nothing switches to a new generation.
    assert {(e.host, e.evidence["generation_after"]) for e in deployments} == {(h, 1) for h in servers}
    first = " ".join(phase1_go["runs"]["first"].stdout.split())
    assert "TASK [Install NixOS with clan]" in first
    # Nothing of phase 1 was provisioned: its servers already run (fleet_provision_phases).
    assert not (tmp / "tofu-calls").exists() and "TASK [Plan the workspace" not in first


def test_phase6_refuses_while_a_node_is_switched_off(env):
    res = run(env, "phase6.yml")
    assert res.returncode != 0
    assert ("galena, scheelite: enabled: expected every machine of group phase6 switched on (the phase deploys, "
            "verifies and gates each of them); found galena, scheelite switched off (terranix's enable flag, "
            "fleet_nodes_enabled overrides it). Nothing was provisioned.") in out(res)
    assert not (env["tmp"] / "tofu-calls" / "calls.jsonl").exists()
    assert [e for e in events(env, kind="deployment") if e.host in H.hosts_in_phase(6)] == []


def test_phase6_provisions_installs_deploys_verifies_and_gates(env):
    res = run(env, "phase6.yml", *enabled(galena=True, scheelite=True))
    text = out(res)
    # Provision: only phase 6's machines, from the real render; phase 1's are not created by phase 6.
    gcp, hetzner = tofu_state(env, "gcp"), tofu_state(env, "hetzner")
    assert set(hetzner) == {"hcloud_server.electrum", "hcloud_firewall.fleet-public", "hcloud_ssh_key.fleet-admin"}
    # The shared resources come with the first node: a GCP node without the firewall rules is unreachable.
    assert {"google_compute_instance.galena", "google_compute_instance.scheelite", "google_compute_address.galena",
            "google_compute_address.scheelite", "google_compute_network.fleet",
            "google_compute_firewall.fleet-public-tcp-ssh", "google_compute_firewall.fleet-public-udp-zerotier"} \
        == set(gcp)
    assert "google_compute_instance.orb-nixos" not in gcp
    assert gcp["google_compute_instance.scheelite"]["guest_accelerator"] == [{"count": 1, "type": "nvidia-tesla-t4"}]
    # The state on disk is encrypted, as terranix's enforced encryption block demands.
    assert "encrypted_data" in (env["tofu"] / "gcp" / "terraform.tfstate").read_text()
    # The plan summary and what runs (and costs) afterwards are shown.
    assert "gcp: plan for galena, scheelite:" in text and "to create" in text
    assert ("gcp: running after this run: galena e2-standard-4 no accelerator; "
            "scheelite n1-standard-8 nvidia-tesla-t4") in text
    assert "hetzner: running after this run: electrum cx53 no accelerator" in text
    provision = {e.host: e for e in events(env, kind="provision") if e.check == "provision"}
    assert set(provision) == {"electrum", "galena", "scheelite"} and all(e.ok for e in provision.values())
    assert provision["scheelite"].evidence["running"][0]["machine_type"] == "n1-standard-8"
    assert provision["scheelite"].evidence["enabled"] is True
    # Install: each machine positively ran no NixOS, so clan installed it and it came back.
    installs = {e.host: e for e in events(env, kind="provision") if e.check == "install" and e.phase == 6}
    assert set(installs) == {"electrum", "galena", "scheelite"}
    assert all(e.ok and e.evidence["installed"] and e.evidence["probe"].startswith("not-nixos")
               for e in installs.values())
    assert sorted(installs_of(env)) == ["electrum", "galena", "scheelite"]
    # After the install each node runs its NixOS, generation 1: the deploy step updates it in place.
    for host in H.hosts_in_phase(6):
        assert installs[host].evidence["generation_after"] == 1
        assert "ID=nixos" in (env["tmp"] / "clan-state" / "hosts" / fqdn(host) / "etc" / "os-release").read_text()
    # Deploy, verify (the real mesh_verify role), gate.
    deployed = {e.host for e in events(env, kind="deployment") if e.ok and e.phase == 6}
    assert deployed == {"electrum", "galena", "scheelite"}
    health = [e for e in events(env, kind="health") if e.check == "mesh_verify" and e.phase == 6]
    assert {e.host for e in health if e.ok} == {"electrum", "galena", "scheelite"}, text[-3000:]
    gates = [e for e in events(env, kind="gate", phase=6) if e.check == "gate"]
    assert {e.host for e in gates if e.host != H.ledger_mod.FLEET} == {"electrum", "galena", "scheelite"}
    # Freshly migrated: NO-GO on the stability window only, everything else holds.
    assert res.returncode != 0
    assert "Phase 6 preflight: NO-GO" not in res.stdout and "Phase 6 gate: NO-GO" in res.stdout
    for host in ("electrum", "galena", "scheelite"):
        assert f"{host}: stable_for: expected stable >= 10 min (10 min); found 0 min" in text
        [row] = [e for e in gates if e.host == host]
        assert [a["criterion"] for a in row.evidence["failed"]] == ["stable_for"], row.evidence["failed"]


def test_toggle_off_and_on_again(env):
    on = run(env, "nodes.yml", *enabled(scheelite=True))
    text = out(on)
    assert on.returncode == 0, [line[:900] for line in on.stdout.splitlines() if "FAILED!" in line or "fatal:" in line] or text[-4000:]
    gcp = tofu_state(env, "gcp")
    assert gcp["google_compute_instance.scheelite"]["machine_type"] == "n1-standard-8"
    assert "gcp: running after this run: scheelite n1-standard-8 nvidia-tesla-t4" in text
    assert {e.host for e in events(env, kind="health") if e.check == "mesh_verify" and e.ok and e.phase == 6} == {"scheelite"}

    off = run(env, "nodes.yml", *enabled(scheelite=False))
    text = out(off)
    assert off.returncode == 0, text[-4000:]
    assert "gcp: plan for scheelite: 0 to create, 0 to update, 0 to replace, 2 to delete" in text
    assert "gcp: running after this run: nothing" in text
    gcp = tofu_state(env, "gcp")
    assert not [a for a in gcp if a.endswith(".scheelite")], "billable resources of scheelite remain"
    # What must survive: the shared network and firewall rules.
    assert {"google_compute_network.fleet", "google_compute_firewall.fleet-public-tcp-ssh"} <= set(gcp)

    # The instance and its disk are gone: nothing answers at the node's name any more.
    assert not (env["tmp"] / "clan-state" / "hosts" / fqdn("scheelite")).exists()

    again = run(env, "nodes.yml", *enabled(scheelite=True))
    assert again.returncode == 0, out(again)[-4000:]
    # Switched on again, it is a new machine from the stock image: installed again, then deployed and verified.
    assert installs_of(env) == ["scheelite", "scheelite"]
    reinstalled = [e for e in events(env, kind="provision") if e.check == "install" and e.host == "scheelite"]
    assert [(e.ok, e.evidence["installed"], e.evidence["probe"]) for e in reinstalled] == [
        (True, True, "not-nixos debian"), (True, True, "not-nixos debian")]
    assert [e.ok for e in events(env, kind="health") if e.host == "scheelite" and e.check == "mesh_verify"] == [True, True]
    toggles = [e for e in events(env, kind="toggle") if e.host == "scheelite"]
    assert [(e.check, e.ok, e.evidence["enabled"]) for e in toggles] == [
        ("enabled", True, True), ("disabled", True, False), ("enabled", True, True)]
    assert toggles[1].evidence["billable"] == [] and toggles[1].evidence["running"] == []
    assert toggles[2].evidence["running"][0]["accelerators"] == [{"type": "nvidia-tesla-t4", "count": 1}]


def test_no_tag_provisions_or_switches_on_without_phase1s_go(env):
    """Provisioning costs money and installing formats disks: both check the earlier gates themselves."""
    env["ledger"].unlink()  # a controller whose ledger holds no phase 1 GO
    skipped = run(env, "phase6.yml", "--skip-tags", "always", *enabled(galena=True, scheelite=True))
    toggled = run(env, "nodes.yml", *enabled(galena=True))
    for res in (skipped, toggled):
        text = out(res)
        assert res.returncode != 0
        assert "phase 6 preflight: NO-GO" in text and "phase1_gate: expected a standing GO decision of the phase 1 gate" \
            in text, text[-3000:]
    calls = env["tmp"] / "tofu-calls" / "calls.jsonl"
    assert not calls.exists() or not any(json.loads(line)["argv"][1] in ("plan", "apply")
                                         for line in calls.read_text().splitlines())
    assert installs_of(env) == []
    # Switching a node off needs no gate: cutting cost is always allowed (nothing to destroy here).
    off = run(env, "nodes.yml", *enabled(galena=False))
    assert off.returncode == 0, out(off)[-3000:]
    assert "gcp: running after this run: nothing" in out(off)


@pytest.mark.parametrize("required", [6, "x"])
def test_a_phase_that_requires_no_earlier_phase_is_refused(env, required):
    res = run(env, "phase-steps.yml", "-e", "fleet_phase_number=6",
              "-e", json.dumps({"fleet_gate_requires_phase": {"6": required}}))
    assert res.returncode != 0
    assert (f"phase6: requires_phase: expected fleet_gate_requires_phase to name an earlier phase (1 to 5) for phase 6; "
            f"found {required}. Fix fleet_gate_requires_phase in inventory/group_vars/all.yml.") in out(res)
    assert [e for e in events(env, kind="deployment") if e.phase == 6] == []


def test_toggle_of_a_protected_machine_is_refused(env):
    res = run(env, "nodes.yml", *enabled(cinnabar=False))
    assert res.returncode != 0
    assert ("cinnabar: toggle: expected a node tagged toggleable (only those can be switched on and off); found "
            "cinnabar protected (not tagged toggleable). Nothing was planned or applied. Remove it from "
            "fleet_nodes_enabled; to retire a protected machine, follow docs/TERRANIX.md, \"Retire a node\".") in out(res)
    assert "### Retire a node" in (H.REPO / "docs" / "TERRANIX.md").read_text()
    assert events(env, kind="toggle") == [] if env["ledger"].exists() else True
    calls = env["tmp"] / "tofu-calls" / "calls.jsonl"
    assert not calls.exists() or not any(json.loads(line)["argv"][1] == "plan" for line in calls.read_text().splitlines())


def test_toggle_of_an_unknown_node_names_it(env):
    res = run(env, "nodes.yml", *enabled(galenna=True))
    assert res.returncode != 0
    assert "galenna: enable flag: expected cloud machines of the clan inventory (tag cloud; terranix knows" in out(res)
    assert "found galenna unknown to terranix" in out(res)


def test_phase_run_refuses_to_destroy_a_node_switched_on_earlier(env):
    on = run(env, "nodes.yml", *enabled(galena=True))
    assert on.returncode == 0, out(on)[-4000:]
    assert installs_of(env) == ["galena"]
    before = (env["tofu"] / "gcp" / "terraform.tfstate").read_text()
    # A phase run that forgets galena's flag would render it off: it must refuse, not destroy.
    # provision-steps.yml as phase 1 would import it: no "every node on" requirement.
    res = run(env, "provision-steps.yml", "-e", "fleet_phase_number=6", *enabled(galena=False))
    text = out(res)
    assert res.returncode != 0
    assert ("galena: provision: expected a plan that deletes and replaces nothing (a phase run only creates and "
            "updates); found it would delete or replace google_compute_address.galena, "
            "google_compute_instance.galena. Nothing was applied.") in text
    assert (env["tofu"] / "gcp" / "terraform.tfstate").read_text() == before
    failed = [e for e in events(env, kind="provision") if e.host == "galena" and not e.ok]
    assert failed and "galena: provision: expected" in failed[-1].details


@pytest.mark.parametrize("cloud", ["gcp"])
def test_real_flake_disabled_node_renders_nothing_billable_enabled_renders_accelerator(cloud):
    from support import nix as nixsupport
    sys.path.insert(0, str(H.REPO / "plugins" / "module_utils"))
    import tofu_plan

    def render(flags: str) -> dict:
        return nixsupport.nix_eval("lib.terranix", apply=f'f: f {{ cloud = "{cloud}"; enabled = {flags}; }}')

    off = render("{ scheelite = false; galena = false; }")
    on = render("{ scheelite = true; }")
    billable_off = [f"{t}.{n}" for t, named in off["resource"].items() if t in tofu_plan.BILLABLE_TYPES
                    for n in named]
    assert not [a for a in billable_off if a.endswith((".scheelite", ".galena"))]
    assert on["resource"]["google_compute_instance"]["scheelite"]["guest_accelerator"] == [
        {"count": 1, "type": "nvidia-tesla-t4"}]
    assert "google_compute_address" in on["resource"] and "scheelite" in on["resource"]["google_compute_address"]
