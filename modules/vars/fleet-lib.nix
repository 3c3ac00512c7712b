# `fleetLib`: the pure functions behind the fleet data, exposed so the tests
# can call them with edge-case inputs (e.g. to assert error messages). Not
# part of `fleet` because functions do not serialise to JSON. `data` is the
# same `fleet` attribute set, so one `--apply` can combine both.
{ config, lib, ... }:
{
  flake.fleetLib = import ./_lib.nix { inherit lib; } // {
    firewallFrom = import ../fleet/_firewall.nix { inherit lib; };
    diskoLuksLayout = import ../nixos/_disko-luks-layout.nix;
    data = config.flake.fleet;
  };
}
