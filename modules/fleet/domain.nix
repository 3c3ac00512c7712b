# The fleet's DNS domain as a fleet fact, so the Ansible side (certificate
# principals `<machine>.<domain>`) reads clan's own `meta.domain`, not a copy.
{ config, ... }:
{
  flake.fleet.domain = config.flake.clan.inventory.meta.domain;
}
