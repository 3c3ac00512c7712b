# Wires clan-core into flake-parts. The clan's name and domain live here once.
{ inputs, ... }:
{
  imports = [ inputs.clan-core.flakeModules.default ];
  systems = import inputs.systems;
  clan.meta = {
    name = "fleet";
    domain = "fleet";
  };
}
