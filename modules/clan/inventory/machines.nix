# The machine list: the single source of truth for every host, its class, its
# tags (groups in Ansible) and the migration phase it belongs to (tag phaseN).
# Everything else -- the Ansible inventory, the playbooks, terranix, the tests --
# reads this list; nothing repeats it.
{ config, ... }:
let
  inherit (config.flake.clan.inventory.meta) domain;
  host = user: name: "${user}@${name}.${domain}";
in
{
  clan.inventory.machines = {
    cinnabar = {
      description = "Hetzner CX53 VPS; ZeroTier controller";
      tags = [ "server" "vps" "hetzner" "cloud" "zerotier-controller" "phase1" ];
      deploy.targetHost = host "root" "cinnabar";
    };
    electrum = {
      description = "Hetzner CX53 VPS";
      tags = [ "server" "vps" "hetzner" "cloud" "phase6" ];
      deploy.targetHost = host "root" "electrum";
    };
    orb-nixos = {
      description = "GCP e2-micro";
      tags = [ "server" "vps" "gcp" "cloud" "phase1" ];
      deploy.targetHost = host "root" "orb-nixos";
    };
    galena = {
      description = "GCP CPU node; switched off unless enabled in terranix";
      tags = [ "server" "gcp" "cloud" "toggleable" "phase7" ];
      deploy.targetHost = host "root" "galena";
    };
    scheelite = {
      description = "GCP GPU node; switched off unless enabled in terranix";
      tags = [ "server" "gcp" "cloud" "gpu" "toggleable" "phase7" ];
      deploy.targetHost = host "root" "scheelite";
    };
    testvm = {
      description = "Local QEMU test VM for clan's NixOS VM test and phase rehearsals";
      tags = [ "server" "test" "phase0" ];
      deploy.targetHost = host "root" "testvm";
    };
    blackphos = {
      machineClass = "darwin";
      description = "macOS workstation; first darwin host migrated";
      tags = [ "workstation" "phase2" ];
      deploy.targetHost = host "crs58" "blackphos";
    };
    rosegold = {
      machineClass = "darwin";
      description = "macOS workstation";
      tags = [ "workstation" "phase3" ];
      deploy.targetHost = host "crs58" "rosegold";
    };
    argentum = {
      machineClass = "darwin";
      description = "macOS workstation";
      tags = [ "workstation" "phase4" ];
      deploy.targetHost = host "crs58" "argentum";
    };
    stibnite = {
      machineClass = "darwin";
      description = "macOS workstation; the primary, migrated last";
      tags = [ "workstation" "primary" "phase5" ];
      deploy.targetHost = host "crs58" "stibnite";
    };
  };
}
