# Config files of tools that have no home-manager module: radicle and macchina.
{
  flake.modules.homeManager.dotfiles =
    { lib, fleetUser, ... }:
    {
      # radicle-node is started by hand (no launchd agent). Its key pair is the
      # user's signing key: the private half is the sops secret placed at
      # ~/.radicle/keys/radicle (see the `secrets` aspect).
      home.file.".radicle/config.json".text = builtins.toJSON {
        publicExplorer = "https://app.radicle.xyz/nodes/$host/$rid$path";
        preferredSeeds = [
        "z6MksmpU5b1dS7oaqF2bHXhQi1DWy2hB7Mh9CuN7y1DN6QSz@seed.radicle.xyz:8776"
        "z6MkrLMMsiPWUcNPHcRajuMi9mDfYckSoJyPwwnknocNYPm7@iris.radicle.xyz:8776"
        "z6Mkmqogy2qEM2ummccUthFEaaHvyYmYBYh3dbe9W4ebScxo@rosa.radicle.xyz:8776"
        ];
        node = {
        alias = fleetUser.name;
        listen = [ ];
        };
      };
      home.file.".radicle/keys/radicle.pub".text = lib.optionalString (fleetUser.signingKey != null) ''
        ${fleetUser.signingKey} ${fleetUser.email}
      '';

      # macchina's config and theme (TOML, written as text so it can be reviewed as such).
      home.file.".config/macchina/macchina.toml".text = ''
        long_uptime = false
        long_shell = false
        long_kernel = false
        current_shell = true
        physical_cores = true
        theme = "custom"
      '';
      home.file.".config/macchina/themes/custom.toml".text = ''
        spacing = 1
        padding = 0
        hide_ascii = true
        separator = " "
        key_color = "Yellow"
        separator_color = "Yellow"

        [palette]
        type = "Light"
        glyph = " ● "
        visible = false

        [bar]
        glyph = "●"
        symbol_open = "("
        symbol_close = ")"
        visible = false
        hide_delimiters = true

        [box]
        title = " "
        border = "plain"
        visible = false

        [box.inner_margin]
        x = 2
        y = 1

        [custom_ascii]
        color = "Yellow"

        [randomize]
        key_color = false
        separator_color = false
        pool = "base"
      '';
    };
}
