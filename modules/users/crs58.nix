# crs58: the admin of every workstation (nix-darwin primary user).
{
  flake.fleet.users.crs58 = rec {
    fullName = "Cameron Smith";
    email = "cameron.ray.smith@gmail.com";
    githubUser = "cameronraysmith";
    sopsIdentifier = "admin-user";
    admin = true;
    signingKey = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAINdO9rInDa9HvdtZZxmkgeEdAlTupCy3BgA/sqSGyUH+";
    sshKeys = [ signingKey ];
  };
}
