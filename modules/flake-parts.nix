# Enables flake-parts' `flake.modules.<class>.<name>` option once, so every
# aspect file can publish `flake.modules.nixos.*`, `flake.modules.darwin.*` and
# `flake.modules.homeManager.*` and machine files can import them by name.
{ inputs, ... }:
{
  imports = [ inputs.flake-parts.flakeModules.modules ];
}
