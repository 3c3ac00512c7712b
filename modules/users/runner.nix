# runner: the CI runner account. It decrypts the admin's per-user secrets
# (sopsIdentifier admin-user), so it signs with the admin's key.
{ config, ... }:
let
  admin = config.flake.fleet.users.${config.flake.fleet.admin};
in
{
  flake.fleet.users.runner = {
    fullName = "GitHub Actions Runner";
    email = "runner@localhost";
    inherit (admin) sopsIdentifier signingKey;
    home = {
      neovimDistribution = false;
      bash = true;
      extraPackages = [
        "git"
        "gh"
        "nixfmt-rfc-style"
        "just"
      ];
    };
  };
}
