# zsh is the login shell of every workstation user; nix-darwin wires its
# /etc/zshrc so nix profiles are on PATH.
{
  flake.modules.darwin.shells = {
    programs.zsh.enable = true;
  };
}
