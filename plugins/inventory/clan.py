# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Copyright: Fleet migration control plane maintainers
from __future__ import annotations

DOCUMENTATION = r"""
name: clan
short_description: Hosts, groups and facts from a clan-core flake's inventory
version_added: "0.1.0"
description:
  - Evaluates the clan inventory of a flake with one C(nix eval --json) call and makes every clan machine an
    Ansible host.
  - With O(source=clan_cli) the same data is read through the clan CLI instead (C(clan select --flake FLAKE
    SELECTOR), which prints JSON), and mapped to the same hosts, groups and variables.
  - Groups come from the machine's tags and its machine class (clan adds the tags C(all), C(nixos) and C(darwin)).
    Characters that are invalid in Ansible group names are replaced by C(_), so the tag C(zerotier-controller)
    becomes the group C(zerotier_controller).
  - Service instance roles are resolved from their machines and tags the way clan-core resolves them.
  - Fleet-wide facts (C(fleet.ports), C(fleet.publicSurface), C(fleet.domain)) come from the flake output C(fleet).
  - The inventory file name must end in C(clan.yml) or C(clan.yaml).
  - "Host variables: C(clan_machine_name), C(clan_machine_class), C(clan_tags), C(clan_description),
    C(clan_services) (instance name to the list of roles the machine holds), C(clan_service_modules) (instance name
    to clan service module name), C(fleet_phase) (N of the tag phaseN, or null), C(fleet_ports), C(fleet_domain),
    C(fleet_expected_secrets) (the deployed service secrets of the vars generators that apply to the machine,
    for the secrets_verify role),
    C(fleet_public_surface), and C(ansible_host), C(ansible_user), C(ansible_port) parsed from
    C(deploy.targetHost) (C([user@]host[:port]))."
  - With caching on, the cached evaluation is reused only while the flake's tracked files are unchanged.
author:
  - Fleet migration control plane maintainers (@cameronraysmith)
extends_documentation_fragment:
  - constructed
  - inventory_cache
options:
  plugin:
    description: Marks this file as a configuration of this plugin.
    required: true
    type: str
    choices: [fleet.migration.clan]
  flake:
    description:
      - The flake to evaluate, a local path or a flake reference such as C(github:owner/repo).
      - Defaults to the nearest directory at or above the inventory file that holds a C(flake.nix).
    type: str
  source:
    description:
      - Where the inventory data comes from. C(nix) runs C(nix eval --json) on the flake.
      - C(clan_cli) runs clan-core's CLI, C(clan select), once per selector (machines, service instance modules,
        service roles, C(fleet)). The nix_* options then do not apply; the clan CLI cannot take
        C(--override-input), so offline the flake's own lock must be fetchable.
    type: str
    choices: [nix, clan_cli]
    default: nix
  clan_bin:
    description: The clan CLI executable, for O(source=clan_cli).
    type: str
    default: clan
    env:
      - name: FLEET_CLAN_BIN
  clan_flags:
    description:
      - Extra arguments for every C(clan select) call, for O(source=clan_cli), e.g. C([--option, NAME, VALUE])
        to set a nix option.
    type: list
    elements: str
    default: []
  nix_bin:
    description: The nix executable.
    type: str
    default: nix
    env:
      - name: FLEET_NIX_BIN
  nix_flags:
    description: Extra flags passed to C(nix eval), after the offline flags.
    type: list
    elements: str
    default: []
  nix_offline:
    description:
      - Whether to add the flags printed by C(nix_offline.py flags), which replace inputs that cannot be fetched
        (full nixpkgs) by local mirrors.
      - C(auto) adds them when the helper is found (C($FLEET_SHARED/nix-offline/nix_offline.py) or a C(shared)
        folder next to the checkout) and C(FLEET_NIX_ONLINE) is not C(1), so the same file works online.
      - C(always) fails when the helper is missing; C(never) evaluates the flake as locked.
    type: str
    choices: [auto, always, never]
    default: auto
    env:
      - name: FLEET_NIX_OFFLINE
  offline_flags_command:
    description:
      - A command (argv list) that prints the offline flags, run in the flake's directory. Replaces the discovered
        helper when C(nix_offline) is not C(never).
    type: list
    elements: str
  timeout:
    description: Seconds the evaluation (with O(source=clan_cli), each C(clan select)) may take before the
      inventory fails.
    type: int
    default: 120
"""

EXAMPLES = r"""
# inventory/clan.yml
plugin: fleet.migration.clan
keyed_groups:
  # class_nixos, class_darwin (phaseN groups come from the tags themselves)
  - key: clan_machine_class
    prefix: class
    separator: "_"
groups:
  # holders of a ZeroTier controller role, whatever the instance is called
  zerotier_controllers: "'controller' in (clan_services.values() | flatten)"

---
# The same inventory through clan-core's CLI
plugin: fleet.migration.clan
source: clan_cli
clan_bin: /opt/clan/bin/clan

---
# Evaluate another checkout, online, with a longer timeout
plugin: fleet.migration.clan
flake: /srv/fleet
nix_offline: never
timeout: 300
"""

import hashlib
import json
import os
import shutil
import subprocess

from ansible.errors import AnsibleParserError
from ansible.inventory.group import to_safe_group_name
from ansible.plugins.inventory import BaseInventoryPlugin, Cacheable, Constructable

from ansible_collections.fleet.migration.plugins.module_utils import clan_inventory, nix_eval

# Bumped when the cached document's layout changes.
_CACHE_FORMAT = 1
# Lines of the clan CLI's stderr kept in an error message: its own error is last.
_CLAN_STDERR_TAIL = 25
# Directories that cannot change what a flake evaluates to but can be large.
_UNTRACKED_SKIP = {".git", ".venv", ".collections", ".cache", "node_modules", "result"}


class InventoryModule(BaseInventoryPlugin, Constructable, Cacheable):
    """Clan machines as Ansible hosts."""

    NAME = "fleet.migration.clan"

    def verify_file(self, path: str) -> bool:
        return super().verify_file(path) and path.endswith(("clan.yml", "clan.yaml"))

    def parse(self, inventory, loader, path, cache=True):
        super().parse(inventory, loader, path, cache)
        self._read_config_data(path)
        flake = self.get_option("flake") or self._flake_of(path)
        data = self._cached_or_evaluated(path, flake, cache)
        try:
            hosts = clan_inventory.build_hosts(data)
        except clan_inventory.InventoryDataError as exc:
            raise AnsibleParserError("fleet.migration.clan: malformed inventory from flake '%s': %s" % (flake, exc))
        self._populate(hosts)

    @staticmethod
    def _flake_of(path: str) -> str:
        root = nix_eval.find_flake_root(os.path.dirname(os.path.abspath(path)))
        if root is None:
            raise AnsibleParserError(
                "fleet.migration.clan: flake not found: expected a flake.nix in '%s' or a parent directory, found "
                "none; set the flake option in %s" % (os.path.dirname(os.path.abspath(path)), path)
            )
        return root

    def _cached_or_evaluated(self, path: str, flake: str, cache: bool) -> dict:
        """The evaluated data, from the cache while the flake is unchanged."""
        use_cache = self.get_option("cache")
        key = self.get_cache_key(path)
        fingerprint = self._fingerprint(flake)
        if use_cache and cache:
            try:
                cached = self._cache[key]
            except KeyError:
                cached = None
            if isinstance(cached, dict) and cached.get("fingerprint") == fingerprint:
                return cached["data"]
        data = self._evaluate(flake)
        if use_cache:
            self._cache[key] = {"fingerprint": fingerprint, "data": data}
        return data

    def _evaluate(self, flake: str) -> dict:
        if self.get_option("source") == "clan_cli":
            return self._select_with_clan(flake)
        try:
            return nix_eval.eval_json(
                ".",
                flake=flake,
                apply=clan_inventory.INVENTORY_APPLY,
                nix_bin=self.get_option("nix_bin"),
                nix_flags=self.get_option("nix_flags") or [],
                offline=self.get_option("nix_offline"),
                offline_command=self.get_option("offline_flags_command"),
                timeout=self.get_option("timeout"),
            )
        except nix_eval.NixError as exc:
            raise AnsibleParserError("fleet.migration.clan: %s" % exc)

    def _select_with_clan(self, flake: str) -> dict:
        """INVENTORY_APPLY-shaped data from one ``clan select`` per CLAN_SELECTORS entry."""
        try:
            ref, local_dir = nix_eval.resolve_flake(flake)
        except nix_eval.NixError as exc:
            raise AnsibleParserError("fleet.migration.clan: %s" % exc)
        clan_bin = self.get_option("clan_bin")
        if shutil.which(clan_bin) is None:
            raise AnsibleParserError(
                "fleet.migration.clan: clan CLI not found: expected the executable '%s' (option clan_bin, env "
                "FLEET_CLAN_BIN) for source clan_cli, found none on PATH; install clan-core's CLI, set clan_bin to "
                "its path, or use source: nix" % clan_bin)
        selected = {}
        for key, selector in clan_inventory.CLAN_SELECTORS.items():
            selected[key] = self._clan_select(clan_bin, ref, local_dir, selector)
        try:
            return clan_inventory.from_clan_select(selected)
        except clan_inventory.InventoryDataError as exc:
            raise AnsibleParserError("fleet.migration.clan: malformed inventory from the clan CLI on flake '%s': %s"
                                     % (flake, exc))

    def _clan_select(self, clan_bin: str, ref: str, cwd: str | None, selector: str):
        """The JSON ``clan select`` prints for ``selector``."""
        argv = [clan_bin, "select", "--flake", ref] + list(self.get_option("clan_flags") or []) + [selector]
        shown = " ".join(argv)
        timeout = self.get_option("timeout")
        try:
            proc = subprocess.run(argv, capture_output=True, timeout=timeout, cwd=cwd, check=False)
        except subprocess.TimeoutExpired:
            raise AnsibleParserError(
                "fleet.migration.clan: '%s' did not finish within %d seconds; raise the timeout option or check "
                "that nix can fetch the flake's inputs" % (shown, timeout))
        except OSError as exc:
            raise AnsibleParserError("fleet.migration.clan: could not run '%s': %s; set clan_bin to the clan "
                                     "CLI executable" % (shown, exc))
        stderr = proc.stderr.decode("utf-8", "replace").strip()
        if proc.returncode != 0:
            tail = "\n".join(stderr.splitlines()[-_CLAN_STDERR_TAIL:]) or "(no output on stderr)"
            raise AnsibleParserError(
                "fleet.migration.clan: '%s' failed with exit code %d, expected 0; the clan CLI said:\n%s\n"
                "Run the command with --debug for nix's full trace." % (shown, proc.returncode, tail))
        stdout = proc.stdout.decode("utf-8", "replace")
        try:
            return json.loads(stdout)
        except ValueError:
            raise AnsibleParserError(
                "fleet.migration.clan: '%s' printed output that is not JSON, expected the JSON document of "
                "selector '%s'; found %r; check that clan_bin is clan-core's CLI"
                % (shown, selector, stdout.strip()[:200]))

    def _fingerprint(self, flake: str) -> str:
        """A digest of everything the evaluation depends on.

        For a local flake: every tracked file's path, size and mtime (nix only
        sees files git tracks; outside git, every .nix file and flake.lock),
        plus the options that change the evaluation.
        """
        digest = hashlib.sha256()
        options = [flake, self.get_option("nix_bin"), self.get_option("nix_flags"), self.get_option("nix_offline"),
                   self.get_option("offline_flags_command"), _CACHE_FORMAT, os.environ.get("FLEET_NIX_ONLINE"),
                   self.get_option("source"), self.get_option("clan_bin"), self.get_option("clan_flags")]
        digest.update(json.dumps(options, sort_keys=True, default=str).encode())
        if os.path.isdir(flake):
            for rel in self._flake_files(flake):
                try:
                    st = os.stat(os.path.join(flake, rel))
                except OSError:
                    continue
                digest.update(("%s\0%d\0%d\n" % (rel, st.st_size, st.st_mtime_ns)).encode())
        return digest.hexdigest()

    @staticmethod
    def _flake_files(flake: str) -> list[str]:
        try:
            out = subprocess.run(["git", "-C", flake, "ls-files", "-z", "--cached"], capture_output=True, timeout=30,
                                 check=True).stdout
            return sorted(p for p in out.decode("utf-8", "replace").split("\0") if p)
        except (OSError, subprocess.SubprocessError):
            # Not a git checkout: the Nix sources and the lock decide the result.
            files = []
            for root, dirs, names in os.walk(flake):
                dirs[:] = [d for d in dirs if d not in _UNTRACKED_SKIP]
                files.extend(os.path.relpath(os.path.join(root, n), flake) for n in names
                             if n.endswith(".nix") or n == "flake.lock")
            return sorted(files)

    def _populate(self, hosts: dict) -> None:
        strict = self.get_option("strict")
        for name, hostvars in hosts.items():
            if "ansible_host" not in hostvars:
                self.display.warning(
                    "fleet.migration.clan: machine '%s' has no deploy.targetHost, so ansible_host is not set and "
                    "Ansible will connect to '%s'; set clan.inventory.machines.%s.deploy.targetHost"
                    % (name, name, name))
            self.inventory.add_host(name)
            group_names = list(hostvars["clan_tags"]) + [hostvars["clan_machine_class"]]
            for tag in group_names:
                group = self.inventory.add_group(to_safe_group_name(tag, force=True, silent=True))
                self.inventory.add_child(group, name)
            for var, value in hostvars.items():
                self.inventory.set_variable(name, var, value)
            # Constructed features see the plugin's variables merged with any set so far.
            merged = self.inventory.get_host(name).get_vars()
            self._set_composite_vars(self.get_option("compose"), merged, name, strict=strict)
            self._add_host_to_composed_groups(self.get_option("groups"), merged, name, strict=strict)
            self._add_host_to_keyed_groups(self.get_option("keyed_groups"), merged, name, strict=strict)
