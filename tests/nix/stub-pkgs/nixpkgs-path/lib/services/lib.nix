# TEST-ONLY: home-manager imports `pkgs.path + "/lib/services/lib.nix"`. That file
# ships with nixpkgs' lib, which is available offline; forward to the copy next
# to the `lib` we were given instead of duplicating it.
{ lib, ... }@args:
let
  libDir = dirOf (builtins.unsafeGetAttrPos "mkOption" lib.options).file;
in
import (/. + libDir + "/services/lib.nix") args
