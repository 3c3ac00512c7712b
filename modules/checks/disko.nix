# `fleetChecks.disko.<machine>`: each machine's disko layout (fleet.disko)
# type-checked by disko's own `toplevel` type and reduced to the NixOS config
# disko derives from it (mounts, LUKS devices, GRUB devices). Pure lib, so the
# tests (tests/nix/test_nixos_data.py) evaluate it offline, where the NixOS
# configurations themselves cannot be evaluated.
{ config, inputs, lib, ... }:
let
  derived =
    devices:
    let
      evaluated = lib.evalModules {
        modules = [
          {
            options.devices = lib.mkOption { type = inputs.disko.lib.toplevel; };
            config.devices = devices;
          }
        ];
      };
      # disko returns NixOS definitions wrapped in mkMerge; flatten them (a
      # stand-in for the module system, enough for these attribute sets).
      unmerge =
        v:
        if lib.isAttrs v && (v._type or null) == "merge" then
          lib.foldl' lib.recursiveUpdate { } (map unmerge v.contents)
        else if lib.isAttrs v then
          lib.mapAttrs (_: unmerge) v
        else
          v;
      fragments = map unmerge (lib.flatten evaluated.config.devices._config);
      merged = lib.foldl' lib.recursiveUpdate { } fragments;
    in
    {
      fileSystems = lib.mapAttrs (_: fs: { inherit (fs) device fsType; }) (merged.fileSystems or { });
      luksDevices = lib.mapAttrs (_: l: { inherit (l) device; }) (merged.boot.initrd.luks.devices or { });
      grubDevices = lib.concatMap (f: f.boot.loader.grub.devices or [ ]) fragments;
    };
in
{
  flake.fleetChecks.disko = lib.mapAttrs (_: derived) config.flake.fleet.disko;
}
