# raquel: a non-admin workstation user with her own secrets.
{
  flake.fleet.users.raquel = {
    fullName = "Someone Local";
    email = "raquel@localhost";
    sopsIdentifier = "raquel-user";
    signingKey = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAIBdSMsU0hZy7MPpnFmS+P7RlN/x6GwMPVp3g7BOUuf";
    home = {
      neovimDistribution = false;
      extraPackages = [
        "git"
        "gh"
        "just"
        "ripgrep"
        "fd"
        "bat"
        "eza"
      ];
    };
  };
}
