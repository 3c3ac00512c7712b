# `<machine>.<domain>` (e.g. cinnabar.fleet) resolves on every machine and on
# the controller, to the machine's ZeroTier mesh address. Nothing is typed by
# hand: the names come from the clan inventory (the members of every
# @fleet/zerotier instance, `fleet.serviceRoles`), the domain from clan's meta,
# the addresses from the vars store (the public, shared
# `zerotier-ip-<machine>-<instance>` vars the mesh generators write).
#
# - NixOS: `networking.hosts` (the aspect `fleet-hosts`, in `base`).
# - darwin: /etc/hosts belongs to macOS, so nix-darwin installs the fragment as
#   /etc/hosts.fleet (environment.etc) and activation keeps one marked block of
#   /etc/hosts equal to it (aspect `fleet-hosts`, in darwin `base`).
# - controller: `nix eval --raw .#fleet.hostsFile` (from the flake's own vars
#   store), to append to /etc/hosts or to feed a resolver.
# A member without an address fails the machine's build (assertion naming the
# `clan vars generate` to run); the controller snippet lists it as a comment so
# `nix eval .#fleet` stays usable before vars exist.
{ config, lib, ... }:
let
  inherit (config.flake.clan.inventory.meta) domain;
  zerotierInstances = lib.attrNames (
    lib.filterAttrs (_: i: (i.module.name or null) == "@fleet/zerotier") config.flake.clan.inventory.instances
  );
  members =
    instance:
    lib.sort lib.lessThan (
      lib.attrNames (lib.filterAttrs (_: roles: roles ? ${instance}) config.flake.fleet.serviceRoles)
    );
  ipFile = dir: instance: machine: dir + "/vars/shared/zerotier-ip-${machine}-${instance}/ip/value";

  # [ { machine; instance; ip (null when the var is missing); file } ]
  entries =
    dir:
    lib.concatMap (
      instance:
      map (
        machine:
        let
          file = ipFile dir instance machine;
        in
        {
          inherit machine instance;
          file = "vars/shared/zerotier-ip-${machine}-${instance}/ip/value";
          ip = if builtins.pathExists file then lib.trim (builtins.readFile file) else null;
        }
      ) (members instance)
    ) zerotierInstances;
  line = e: "${e.ip} ${e.machine}.${domain} ${e.machine}";
  hostsText =
    dir:
    lib.concatMapStrings (
      e:
      if e.ip == null then
        "# ${e.machine}.${domain}: no mesh address yet (${e.file}); run `clan vars generate ${e.machine}`\n"
      else
        line e + "\n"
    ) (entries dir);
  missing = dir: lib.filter (e: e.ip == null) (entries dir);
  assertAll = dir: map (e: {
    assertion = false;
    message = "fleet-hosts: ${e.machine}.${domain} has no mesh address: expected ${e.file} in the vars store, found none; run `clan vars generate ${e.machine}`";
  }) (missing dir);
  marker = "# fleet mesh names (nix-darwin fleet-hosts; do not edit)";
in
{
  flake.fleet.hostsFile = hostsText ../..;

  flake.modules.nixos.fleet-hosts =
    { config, ... }:
    let
      dir = config.clan.core.settings.directory;
    in
    {
      assertions = assertAll dir;
      networking.hosts = lib.foldl' (
        acc: e: acc // { ${e.ip} = (acc.${e.ip} or [ ]) ++ [ "${e.machine}.${domain}" e.machine ]; }
      ) { } (lib.filter (e: e.ip != null) (entries dir));
    };

  flake.modules.darwin.fleet-hosts =
    { config, ... }:
    let
      dir = config.clan.core.settings.directory;
    in
    {
      assertions = assertAll dir;
      environment.etc."hosts.fleet".text = hostsText dir;
      # Replace the marked block of /etc/hosts with /etc/hosts.fleet (idempotent;
      # the rest of the file stays macOS's). Runs at every activation.
      system.activationScripts.postActivation.text = lib.mkAfter ''
        tmp=$(mktemp)
        /usr/bin/sed '/^${marker}$/,/^# end fleet mesh names$/d' /etc/hosts > "$tmp"
        { echo '${marker}'; cat /etc/hosts.fleet; echo '# end fleet mesh names'; } >> "$tmp"
        if ! /usr/bin/cmp -s "$tmp" /etc/hosts; then
          /bin/cp "$tmp" /etc/hosts
          /usr/bin/dscacheutil -flushcache || true
        fi
        rm -f "$tmp"
      '';
    };
}
