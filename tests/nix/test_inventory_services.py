"""Offline evaluation of the clan inventory's service instances.

Expected memberships are derived from the inventory's own tags
(modules/clan/inventory/machines.nix); the machines the inventory must
implement come from the migration plan's seed, playbooks/vars/seed.yml (the
same specification Phase 0 checks), not from a copy here.
Resolved roles come from `fleet.serviceRoles` (modules/clan/service-roles.nix,
built from clan-core's resolved instances).
"""
from __future__ import annotations

import functools

import pytest
import yaml

from support.nix import REPO, inventory, nix_eval

pytestmark = pytest.mark.nix

# The migration plan: machine -> class. The inventory must contain exactly these.
SEED = {
    name: spec["class"]
    for name, spec in yaml.safe_load((REPO / "playbooks" / "vars" / "seed.yml").read_text())[
        "phase0_seed_machines"
    ].items()
}


@functools.lru_cache(maxsize=None)
def service_roles() -> dict:
    return nix_eval("fleet.serviceRoles")


@functools.lru_cache(maxsize=None)
def instances() -> dict:
    # Settings are module values; only module/tags/machines are compared.
    return nix_eval(
        "clan.inventory.instances",
        apply="is: builtins.mapAttrs (_: i: { module = i.module; roles = builtins.mapAttrs "
        "(_: r: { tags = builtins.attrNames r.tags; machines = builtins.attrNames r.machines; }) i.roles; }) is",
    )


def tagged(tag: str) -> set[str]:
    return {name for name, m in inventory().items() if tag in m["tags"]}


def holders(instance: str, role: str) -> set[str]:
    return {m for m, insts in service_roles().items() if role in insts.get(instance, [])}


def test_every_seed_machine_present_with_its_class():
    machines = inventory()
    assert set(machines) == set(SEED), f"inventory {sorted(machines)} != seed {sorted(SEED)}"
    for name, cls in SEED.items():
        assert machines[name]["machineClass"] == cls, f"{name}: class {machines[name]['machineClass']}, expected {cls}"


def test_deploy_target_is_derived_from_name_domain_and_admin():
    """root@<name>.<domain> on servers, <admin>@<name>.<domain> on workstations,
    with the admin and the domain read from the flake, not written here."""
    admin = nix_eval("fleet.admin")
    domain = nix_eval("clan.inventory.meta.domain")
    assert admin in nix_eval("fleet.users", apply="builtins.attrNames")
    for name, machine in inventory().items():
        user = admin if "workstation" in machine["tags"] else "root"
        assert machine["deploy"]["targetHost"] == f"{user}@{name}.{domain}", name


def test_service_roles_cover_every_machine():
    assert set(service_roles()) == set(inventory())


def test_roles_are_assigned_by_tag_not_by_machine_list():
    for name, inst in instances().items():
        for role, r in inst["roles"].items():
            assert r["machines"] == [], f"instance {name} role {role} lists machines {r['machines']}; use tags"
            assert r["tags"], f"instance {name} role {role} has no tags"


def test_exactly_one_zerotier_controller_and_it_is_a_nixos_vps():
    controllers = holders("zerotier", "controller")
    assert len(controllers) == 1, f"expected one zerotier controller, found {sorted(controllers)}"
    (controller,) = controllers
    machine = inventory()[controller]
    assert "vps" in machine["tags"], f"controller {controller} is not tagged vps"
    assert machine["machineClass"] == "nixos", f"controller {controller} must be NixOS"
    assert controllers == tagged("zerotier-controller")


def test_every_machine_is_a_zerotier_peer():
    assert holders("zerotier", "peer") == set(inventory())


def test_sshd_server_and_client_everywhere():
    assert holders("sshd", "server") == set(inventory())
    assert holders("sshd", "client") == set(inventory())


def test_users_root_exactly_on_servers():
    assert holders("users-root", "default") == tagged("server")


def test_users_crs58_exactly_on_workstations():
    assert holders("users-crs58", "default") == tagged("workstation")
    assert holders("users-crs58", "default").isdisjoint(holders("users-root", "default"))


def test_emergency_access_only_on_nixos():
    members = holders("emergency-access", "default")
    assert members, "emergency-access has no members"
    assert all(inventory()[m]["machineClass"] == "nixos" for m in members)


def test_own_services_are_registered_and_used():
    registered = set(nix_eval("clan.modules", apply="builtins.attrNames"))
    for name, inst in instances().items():
        if inst["module"]["input"] == "self":
            assert inst["module"]["name"] in registered, f"instance {name} uses unregistered {inst['module']['name']}"


def test_firewall_public_ports_are_derived_from_fleet_ports():
    fleet = nix_eval("fleet", apply="f: { inherit (f) ports publicSurface firewall; }")
    ports, surface, firewall = fleet["ports"], fleet["publicSurface"], fleet["firewall"]
    assert firewall["public"]["tcp"] == [ports[n] for n in surface["tcp"]]
    assert firewall["public"]["udp"] == [ports[n] for n in surface["udp"]]
    assert firewall["initrdSshPort"] == ports["ssh"]


# --- darwin members really get the darwin side of the services ---------------------------------


def darwin_machines() -> list[str]:
    return sorted(n for n, m in inventory().items() if m["machineClass"] == "darwin")


@pytest.mark.parametrize("machine", darwin_machines())
def test_darwin_peer_runs_zerotier_with_vars_from_clan(machine):
    cfg = nix_eval(
        f"darwinConfigurations.{machine}.config",
        apply="c: { daemons = builtins.attrNames c.launchd.daemons; "
        "casks = map (c: c.name) c.homebrew.casks; "
        "gens = builtins.attrNames c.clan.core.vars.generators; }",
    )
    # The official client (its installer creates the network interface), joined by our daemon.
    assert "zerotier-one" in cfg["casks"]
    assert "fleet-zerotier" in cfg["daemons"] and "zerotierone" not in cfg["daemons"]
    (controller,) = holders("zerotier", "controller")
    for gen in (f"zerotier-identity-{machine}", f"zerotier-ip-{machine}-zerotier", "zerotier-network-zerotier"):
        assert gen in cfg["gens"], f"{machine} lacks vars generator {gen}"
    deps = nix_eval(f"darwinConfigurations.{machine}.config.clan.core.vars.generators.zerotier-network-zerotier.dependencies")
    assert deps == [f"zerotier-identity-{controller}"], "network id must derive from the controller's identity"


@pytest.mark.parametrize("machine", darwin_machines())
def test_darwin_workstation_trusts_fleet_ssh_ca(machine):
    ca = nix_eval(
        f"darwinConfigurations.{machine}.config.programs.ssh.knownHosts.ssh-ca",
        apply="k: { inherit (k) certAuthority extraHostNames; }",
    )
    domain = nix_eval("clan.inventory.meta.domain")
    assert ca["certAuthority"] is True
    assert f"*.{domain}" in ca["extraHostNames"]


def test_darwin_shared_generators_match_fleet_data():
    """clan refuses shared generators whose files/prompts/dependencies differ between
    machines (clan_lib/vars/generator.py find_generator_differences); the darwin
    declarations must equal the data clan-core's NixOS services mirror."""
    data = nix_eval("fleet.generators")
    machine = darwin_machines()[0]
    gens = nix_eval(
        f"darwinConfigurations.{machine}.config.clan.core.vars.generators",
        apply="g: builtins.mapAttrs (_: v: { inherit (v) share; files = builtins.mapAttrs "
        "(_: f: { inherit (f) secret deploy neededFor; }) v.files; }) g",
    )
    for name, key in (("openssh-ca", "openssh-ca"), (f"zerotier-identity-{machine}", "zerotier-identity")):
        want = {f: {k: v[k] for k in ("secret", "deploy", "neededFor")} for f, v in data[key]["files"].items()}
        assert gens[name]["files"] == want, f"{machine}: {name} differs from fleet.generators.{key}"
        assert gens[name]["share"] is True
