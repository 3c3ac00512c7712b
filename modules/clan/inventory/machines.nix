# The machine list: the single source of truth for every host, its class, its
# tags (groups in Ansible) and the migration phase it belongs to (tag phaseN).
# Everything else -- the Ansible inventory, the playbooks, terranix, the tests --
# reads this list; nothing repeats it.
#
# deploy.targetHost is derived, not written per machine: <user>@<name>.<domain>,
# where the user is the workstation admin (modules/users/admin.nix) on machines
# tagged workstation and root on every other machine.
{ config, lib, ... }:
let
  inherit (config.flake.clan.inventory.meta) domain;
  deployUser =
    machine: if lib.elem "workstation" machine.tags then config.flake.fleet.admin else "root";
  # recursiveUpdate keeps any other deploy.* a machine sets (e.g. buildHost).
  withDeployTarget = lib.mapAttrs (
    name: machine:
    lib.recursiveUpdate machine { deploy.targetHost = "${deployUser machine}@${name}.${domain}"; }
  );
in
{
  clan.inventory.machines = withDeployTarget {
    cinnabar = {
      description = "Hetzner CX53 VPS; ZeroTier controller";
      tags = [ "server" "vps" "hetzner" "cloud" "zerotier-controller" "phase1" ];
    };
    electrum = {
      description = "Hetzner CX53 VPS";
      tags = [ "server" "vps" "hetzner" "cloud" "phase6" ];
    };
    orb-nixos = {
      description = "GCP e2-micro";
      tags = [ "server" "vps" "gcp" "cloud" "phase1" ];
    };
    galena = {
      description = "GCP CPU node; switched off unless enabled in terranix";
      tags = [ "server" "gcp" "cloud" "toggleable" "phase6" ];
    };
    scheelite = {
      description = "GCP GPU node; switched off unless enabled in terranix";
      tags = [ "server" "gcp" "cloud" "gpu" "toggleable" "phase6" ];
    };
    testvm = {
      description = "Local QEMU test VM for clan's NixOS VM test and phase rehearsals";
      tags = [ "server" "test" "phase0" ];
    };
    blackphos = {
      machineClass = "darwin";
      description = "macOS workstation; first darwin host migrated";
      tags = [ "workstation" "phase2" ];
    };
    rosegold = {
      machineClass = "darwin";
      description = "macOS workstation";
      tags = [ "workstation" "phase3" ];
    };
    argentum = {
      machineClass = "darwin";
      description = "macOS workstation";
      tags = [ "workstation" "phase4" ];
    };
    stibnite = {
      machineClass = "darwin";
      description = "macOS workstation; the primary, migrated last";
      tags = [ "workstation" "primary" "phase5" ];
    };
  };
}
