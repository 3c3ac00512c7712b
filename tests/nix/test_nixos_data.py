"""The NixOS servers' lib-only data, evaluated offline.

NixOS configurations need full nixpkgs and cannot be evaluated here; what can
is checked: the disko layouts (type-checked by disko's own types through
`fleetChecks.disko`), the generators each server receives by tag, the
firewall data and the shape of the thin machine files. Option names used in
modules/nixos/ are checked against upstream declarations by hand; see
docs/INTEGRATION-FINDINGS.md.
"""
from __future__ import annotations

import functools
import re
import subprocess

import pytest

from support.nix import REPO, inventory, nix_eval

pytestmark = pytest.mark.nix

MACHINE_DIR = REPO / "modules" / "machines" / "nixos"


@functools.lru_cache(maxsize=None)
def fleet() -> dict:
    return nix_eval("fleet", apply="f: { inherit (f) disks disko generators firewall ports; }")


def nixos_machines() -> list[str]:
    return sorted(n for n, m in inventory().items() if m["machineClass"] == "nixos")


def test_every_nixos_machine_has_a_thin_machine_file():
    files = {p.stem for p in MACHINE_DIR.glob("*.nix")}
    assert files == set(nixos_machines()), f"machine files {sorted(files)} != NixOS machines {nixos_machines()}"
    hardware = {p.stem for p in (REPO / "modules" / "nixos").glob("hardware-*.nix")}
    for name in nixos_machines():
        text = (MACHINE_DIR / f"{name}.nix").read_text()
        assert f"clan.machines.{name}" in text
        assert re.search(r"^\s*base$", text, re.M), f"{name}.nix does not import the base aspect"
        used = set(re.findall(r"^\s*(hardware-[a-z-]+)$", text, re.M))
        assert len(used) == 1 and used <= hardware, f"{name}.nix must import exactly one hardware aspect, has {used}"
        # Facts that live in the inventory must not be repeated here.
        for fact in ("tags", "targetHost", "machineClass"):
            assert fact not in text, f"{name}.nix repeats inventory fact '{fact}'"


def test_aspects_exist():
    aspects = set(nix_eval("modules.nixos", apply="builtins.attrNames"))
    for aspect in ("base", "srvos-server", "firewall", "disko-luks", "remote-unlock", "fleet-vars"):
        assert aspect in aspects, f"flake.modules.nixos.{aspect} missing"


@pytest.mark.parametrize("machine", nixos_machines())
def test_disko_layout_is_luks_root_with_partitioning_key(machine):
    layout = fleet()["disko"].get(machine)
    assert layout, f"{machine}: no fleet.disko entry (set fleet.disks.{machine})"
    disk = layout["disk"]["main"]
    assert disk["device"] == fleet()["disks"][machine]
    parts = disk["content"]["partitions"]
    assert parts["bios"]["type"] == "EF02"
    assert parts["esp"]["content"]["mountpoint"] == "/boot"
    luks = parts["root"]["content"]
    assert luks["type"] == "luks"
    gen = fleet()["generators"]["luks-root"]
    (key_file,) = gen["files"]
    assert gen["files"][key_file]["neededFor"] == "partitioning"
    assert luks["passwordFile"] == f"/run/partitioning-secrets/per-machine/{machine}/luks-root/{key_file}"
    assert luks["content"]["mountpoint"] == "/"


@pytest.mark.parametrize("machine", nixos_machines())
def test_disko_derives_encrypted_root_mount(machine):
    derived = nix_eval(f"fleetChecks.disko.{machine}")
    (luks_name,) = derived["luksDevices"]
    assert derived["fileSystems"]["/"]["device"] == f"/dev/mapper/{luks_name}"
    assert derived["fileSystems"]["/boot"]["fsType"] == "vfat"
    assert derived["grubDevices"] == [fleet()["disks"][machine]]


@pytest.mark.parametrize("machine", nixos_machines())
def test_servers_receive_luks_and_initrd_generators_by_tag(machine):
    tags = set(inventory()[machine]["tags"])
    applied = {n for n, g in fleet()["generators"].items() if tags & set(g.get("appliesTo", {}).get("tags", []))}
    assert {"luks-root", "initrd-ssh"} <= applied, f"{machine} (tags {sorted(tags)}) gets {sorted(applied)}"


def test_cloud_tokens_follow_provider_tags():
    gens = fleet()["generators"]
    assert gens["hetzner-api-token"]["appliesTo"]["tags"] == ["hetzner"]
    assert gens["gcp-api-token"]["appliesTo"]["tags"] == ["gcp"]
    for provider in ("hetzner", "gcp"):
        assert any(provider in m["tags"] for m in inventory().values()), f"no machine tagged {provider}"


def test_firewall_exposes_only_the_public_surface_and_trusts_the_mesh():
    fw, ports = fleet()["firewall"], fleet()["ports"]
    public = set(fw["public"]["tcp"]) | set(fw["public"]["udp"])
    assert public <= set(ports.values())
    assert fw["public"]["tcp"] == [ports["ssh"]]
    assert fw["public"]["udp"] == [ports["zerotier"]]
    assert fw["meshInterfaces"] == ["zt+"]


def test_firewall_aspect_forces_the_public_lists():
    # The aspect must force the lists: clan-core's zerotier module adds TCP 9993.
    text = (REPO / "modules" / "nixos" / "firewall.nix").read_text()
    for option in ("allowedTCPPorts", "allowedUDPPorts"):
        assert re.search(rf"{option} = lib\.mkForce firewall\.public\.", text), f"{option} is not forced from fleet data"
    assert "trustedInterfaces = firewall.meshInterfaces" in text


# --- error messages of the pure functions (fleetLib) --------------------------------------------


def nix_error(attr: str, apply: str) -> str:
    """stderr of an evaluation that must fail."""
    with pytest.raises(subprocess.CalledProcessError) as err:
        nix_eval(attr, apply=apply)
    return err.value.stderr


def test_public_surface_naming_unknown_port_fails_with_fix():
    stderr = nix_error(
        "fleetLib",
        'l: l.firewallFrom { ports = { ssh = 22; }; publicSurface = { tcp = [ "ssh" ]; udp = [ "zerotier" ]; }; }',
    )
    assert (
        "fleet.publicSurface.udp names port 'zerotier', but fleet.ports has no such entry (known: ssh); "
        "add it to modules/fleet/ports.nix"
    ) in stderr


def test_firewall_function_matches_published_data():
    derived = nix_eval("fleetLib", apply="l: l.firewallFrom { inherit (l.data) ports publicSurface; }")
    assert derived == fleet()["firewall"]


@pytest.mark.parametrize("tag", ["gcp", "hetzner", "server"])
def test_generators_for_tags_selects_by_inventory_tag(tag):
    chosen = nix_eval("fleetLib", apply=f'l: builtins.attrNames (l.generatorsForTags l.data.generators [ "{tag}" ])')
    # Expected from the published generator data, not a copied list: exactly
    # the generators whose appliesTo.tags name the tag.
    expected = sorted(n for n, g in fleet()["generators"].items() if tag in g["appliesTo"].get("tags", []))
    assert expected and chosen == expected


def test_disko_layout_function_is_what_fleet_publishes():
    machine = nixos_machines()[0]
    path = f"/run/partitioning-secrets/per-machine/{machine}/luks-root/key"
    layout = nix_eval(
        "fleetLib",
        apply=f'l: l.diskoLuksLayout {{ device = l.data.disks."{machine}"; passwordFile = "{path}"; }}',
    )
    assert layout == fleet()["disko"][machine]


# --- NixOS aspects against a stand-in of their upstream option declarations ----------------------
# NixOS does not evaluate offline, but an aspect's own logic does, against the
# types nixpkgs declares for the options it touches. The stand-in here copies
# nixpkgs' declaration of boot.initrd.luks.devices (nixos/modules/system/boot/
# luksroot.nix: attrsOf (submodule ...), crypttabExtraOpts listOf singleLineStr,
# default [ ]); every other option is free-form. disko's definition is the one
# disko derives from the machine's layout (fleetChecks.disko.<m>.luksDevices).

LUKS_STAND_IN = """flake: machine: let
  lib = flake.inputs.nixpkgs.lib;
  upstream = {
    freeformType = lib.types.lazyAttrsOf lib.types.anything;
    options.boot.initrd.luks.devices = lib.mkOption {
      default = { };
      type = lib.types.attrsOf (lib.types.submodule {
        options.device = lib.mkOption { type = lib.types.str; };
        options.crypttabExtraOpts = lib.mkOption { type = lib.types.listOf lib.types.singleLineStr; default = [ ]; };
      });
    };
  };
  disko.boot.initrd.luks.devices = (builtins.getAttr machine flake.fleetChecks.disko).luksDevices;
  eval = lib.evalModules { modules = [ upstream disko flake.modules.nixos.tpm-unlock ]; };
in builtins.mapAttrs (_: d: { inherit (d) device crypttabExtraOpts; }) eval.config.boot.initrd.luks.devices"""


def gcp_machines() -> list[str]:
    return sorted(n for n, m in inventory().items() if "gcp" in m["tags"])


@pytest.mark.parametrize("machine", gcp_machines())
def test_tpm_unlock_adds_the_tpm_to_every_luks_device_disko_derives(machine):
    """tpm-unlock must not read the attribute names of the option it defines (that
    is an infinite recursion at the first build); every LUKS device disko derives
    gets tpm2-device=auto, and keeps its device."""
    apply = f"c: import (builtins.toFile \"luks.nix\" ''{LUKS_STAND_IN}'') c._module.specialArgs.self \"{machine}\""
    got = nix_eval("darwinConfigurations", apply=f"cs: ({apply}) (builtins.head (builtins.attrValues cs))")
    derived = fleet_checks()[machine]["luksDevices"]
    assert got and set(got) == set(derived)
    for name, dev in got.items():
        assert dev["device"] == derived[name]["device"]
        assert dev["crypttabExtraOpts"] == ["tpm2-device=auto"], name


@functools.lru_cache(maxsize=None)
def fleet_checks() -> dict:
    return nix_eval("fleetChecks.disko")


def test_every_gce_node_unlocks_with_its_vtpm():
    """terranix gives every GCE node a vTPM; the GCE hardware aspect is what brings
    tpm-unlock, so no host file can forget it (or carry it off GCE)."""
    assert "tpm-unlock" in (REPO / "modules/nixos/hardware-gcp.nix").read_text()
    for name in nixos_machines():
        text = (MACHINE_DIR / f"{name}.nix").read_text()
        assert "tpm-unlock" not in text, f"{name}.nix imports tpm-unlock itself; hardware-gcp brings it"
