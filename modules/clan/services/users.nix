# `@fleet/users`: one account per instance, on NixOS and nix-darwin.
#
# Our own clan.service (clan-core's `users` has no darwin side). Settings keep
# the names of clan-core's users service (user, groups, prompt, share,
# openssh.authorizedKeys.keys) so switching back is a rename.
#
# - NixOS: immutable users; the password hash comes from the vars generator
#   `user-password-<user>` (fleet.generators.user-password, mkpasswd), deployed
#   before users are created (neededFor = "users").
# - darwin: macOS owns account passwords and nix-darwin cannot set them, so the
#   darwin side declares the account's home and SSH keys only and no password
#   generator; the account itself exists already (it is the migrated user).
{ config, lib, ... }:
let
  fleetGenerators = config.flake.fleet.generators;
  varsLib = import ../../vars/_lib.nix { inherit lib; };
in
{
  clan.modules."@fleet/users" = {
    _class = "clan.service";
    manifest.name = "@fleet/users";
    manifest.description = "Declares a user account on NixOS (with a vars-managed password) and nix-darwin (keys and home)";
    manifest.categories = [ "System" ];

    roles.default = {
      description = "Machines that get the account";
      interface =
        { lib, ... }:
        {
          options = {
            user = lib.mkOption {
              type = lib.types.str;
              description = "The account name.";
            };
            groups = lib.mkOption {
              type = lib.types.listOf lib.types.str;
              default = [ ];
              description = "Extra groups on NixOS (e.g. wheel). Ignored on darwin, where macOS manages group membership.";
            };
            prompt = lib.mkOption {
              type = lib.types.bool;
              default = true;
              description = "Ask for the password on `clan vars generate` (empty answer generates one).";
            };
            share = lib.mkOption {
              type = lib.types.bool;
              default = false;
              description = "Same password on every machine of the instance.";
            };
            openssh.authorizedKeys.keys = lib.mkOption {
              type = lib.types.listOf lib.types.singleLineStr;
              default = [ ];
              description = "SSH public keys allowed to log in as this user.";
            };
          };
        };

      perInstance =
        { settings, ... }:
        let
          generatorName = "user-password-${settings.user}";
        in
        {
          nixosModule =
            { config, lib, pkgs, ... }:
            {
              users.users.${settings.user} = {
                isNormalUser = settings.user != "root";
                extraGroups = settings.groups;
                hashedPasswordFile = config.clan.core.vars.generators.${generatorName}.files.user-password-hash.path;
                openssh.authorizedKeys.keys = settings.openssh.authorizedKeys.keys;
              };
              clan.core.vars.generators.${generatorName} =
                let
                  gen = varsLib.toClanGenerator {
                    gen = fleetGenerators.user-password;
                    inherit pkgs;
                  };
                in
                gen
                // {
                  inherit (settings) share;
                  prompts = lib.optionalAttrs settings.prompt gen.prompts;
                };
            };

          darwinModule =
            { lib, ... }:
            {
              users.users.${settings.user} = {
                name = settings.user;
                home = lib.mkDefault (if settings.user == "root" then "/var/root" else "/Users/${settings.user}");
                openssh.authorizedKeys.keys = settings.openssh.authorizedKeys.keys;
              };
            };
        };
    };

    perMachine = {
      # The account list is declarative: no passwd/useradd drift on servers.
      nixosModule.users.mutableUsers = false;
    };
  };
}
