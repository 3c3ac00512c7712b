# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Copyright: Fleet migration control plane maintainers
from __future__ import annotations

DOCUMENTATION = r"""
name: clan
short_description: Hosts, groups and facts from a clan-core flake's inventory
version_added: "0.1.0"
description:
  - Evaluates the clan inventory of any clan-core flake with one C(nix eval --json) call and makes every clan machine
    an Ansible host. The clan may be made with C(clan-core.lib.clan) or clan-core's flake-parts module and exported
    as the flake output C(clan) or only as C(clanInternals), as clan-core's templates (C(templates/clan/default),
    C(flake-parts), C(minimal)) do.
  - With O(source=clan_cli) the same data is read through the clan CLI instead (C(clan select --flake FLAKE
    SELECTOR), which prints JSON), and mapped to the same hosts, groups and variables.
  - Groups come from the machine's tags and its machine class (clan adds the tags C(all), C(nixos) and C(darwin)).
    Characters that are invalid in Ansible group names are replaced by C(_), so the tag C(zerotier-controller)
    becomes the group C(zerotier_controller). O(role_groups) and O(class_group_prefix) add more groups.
  - Service instance roles are resolved from their machines and tags the way clan-core resolves them.
  - "Host variables from the clan inventory alone: C(clan_machine_name), C(clan_machine_class), C(clan_tags),
    C(clan_description), C(clan_services) (instance name to the list of roles the machine holds),
    C(clan_service_modules) (instance name to clan service module name), and C(ansible_host), C(ansible_user),
    C(ansible_port) parsed from C(deploy.targetHost) (C([ssh://][user@]host[:port][?Option=value&...]), the host
    an IPv6 address in brackets or bare; C(?Option=value) becomes C(ansible_ssh_common_args))."
  - "Fleet-only host variables, set when the flake provides them and never required: C(fleet_ports) (flake output
    C(fleet.ports)), C(fleet_public_surface) (C(fleet.publicSurface)), C(fleet_domain) (C(fleet.domain)),
    C(fleet_expected_secrets) (the deployed service secrets of the C(fleet.generators) vars generators that apply to
    the machine, for the secrets_verify role) and C(fleet_phase) (N of the machine's C(phaseN) tag)."
  - A fleet-only variable whose source is missing is left undefined, so whatever uses it fails naming it, and the
    host variable C(fleet_facts_missing) lists it (the variable is absent when nothing is missing). With
    O(strict=true), a O(compose), O(groups) or O(keyed_groups) expression that needs a missing fact is an error
    naming the fact and the flake output that provides it; with O(strict=false) it is skipped.
  - On a plain clan five lines of C(inventory/clan.yml) are enough (the first example) - the plugin, the flake and
    the cache. What this fleet's C(fleet) outputs and C(phaseN) tags add are the C(fleet_*) variables above, which
    the fleet's verification roles and phase playbooks read; nothing else depends on them.
  - An option this plugin does not know is an error naming it and the valid options.
  - The inventory file name must end in C(clan.yml) or C(clan.yaml).
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
        service roles, C(fleet)). It reads the clan from C(clanInternals.inventoryClass.inventory), which every
        clan-core clan has, and the C(fleet) output through maybe selectors, so a plain clan gives the same hosts,
        groups and C(fleet_facts_missing) as with C(nix). The nix_* options then do not apply; the clan CLI cannot
        take C(--override-input), so offline the flake's own lock must be fetchable.
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
  class_group_prefix:
    description:
      - When set, every machine is also in the group of this prefix and its machine class (C(class_nixos),
        C(class_darwin) for C(class_)), for plays that must not rely on tag names. Clan's own C(nixos) and
        C(darwin) tags are groups anyway.
      - The same as a C(keyed_groups) entry on C(clan_machine_class), without templating each host.
    type: str
  role_groups:
    description:
      - Groups of the machines that hold a role of a clan service, whatever the service instance is called,
        computed from the resolved roles (C(clan_services), C(clan_service_modules)) without templating.
      - Each key is a group name; its value is C({module, role}). C(module) matches the instance's module name
        with or without an C(@input/) prefix, so C(zerotier) matches clan-core's C(zerotier) and a wrapper such as
        C(@fleet/zerotier).
    type: dict
    default: {}
  timeout:
    description: Seconds the evaluation (with O(source=clan_cli), each C(clan select)) may take before the
      inventory fails.
    type: int
    default: 120
"""

EXAMPLES = r"""
# inventory/clan.yml on a plain clan (e.g. one made by `clan init` from a clan-core template): five lines,
# then `ansible-inventory -i inventory/clan.yml --graph`
plugin: fleet.migration.clan
flake: /srv/my-clan                           # default: the nearest flake.nix at or above this file
cache: true                                   # reuse the evaluation while the flake's tracked files are unchanged
cache_plugin: ansible.builtin.jsonfile
cache_connection: ~/.cache/ansible-inventory

---
# This fleet's inventory/clan.yml: groups from resolved roles and classes, fleet facts required by strict
plugin: fleet.migration.clan
strict: true
role_groups:
  # holders of a ZeroTier controller role (module zerotier or @fleet/zerotier), whatever the instance is called
  zerotier_controllers: {module: zerotier, role: controller}
class_group_prefix: class_
keyed_groups:
  # phase1, phase2, ... again from fleet_phase (the tags make them too); strict makes a machine without a
  # phaseN tag an error naming fleet_phase
  - key: fleet_phase
    prefix: phase
    separator: ""

---
# The same inventory through clan-core's CLI
plugin: fleet.migration.clan
source: clan_cli
clan_bin: /opt/clan/bin/clan
"""

import hashlib
import json
import os
import re
import shutil
import subprocess

from ansible.errors import AnsibleError, AnsibleParserError
from ansible.inventory.group import to_safe_group_name
from ansible.plugins.inventory import BaseInventoryPlugin, Cacheable, Constructable

from ansible_collections.fleet.migration.plugins.module_utils import clan_inventory, nix_eval

# Bumped when the cached document's layout changes.
_CACHE_FORMAT = 2
# Lines of the clan CLI's stderr kept in an error message: its own error is last.
_CLAN_STDERR_TAIL = 25
# Directories that cannot change what a flake evaluates to but can be large.
_UNTRACKED_SKIP = {".git", ".venv", ".collections", ".cache", "node_modules", "result"}


def _git_index_signature(flake: str) -> list | None:
    """``[flake, size, mtime_ns, inode]`` of the git index that lists the flake's files, None outside git.

    git rewrites the index through a new file for every change to it, so the
    signature changes whenever the tracked-file list can.
    """
    if not os.path.isdir(flake):
        return None
    current = os.path.abspath(flake)
    while True:
        dot_git = os.path.join(current, ".git")
        if os.path.isdir(dot_git):
            git_dir = dot_git
            break
        if os.path.isfile(dot_git):  # a worktree or submodule: "gitdir: PATH"
            try:
                with open(dot_git, encoding="utf-8") as handle:
                    line = handle.readline().strip()
            except OSError:
                return None
            if not line.startswith("gitdir:"):
                return None
            git_dir = os.path.join(current, line[len("gitdir:"):].strip())
            break
        parent = os.path.dirname(current)
        if parent == current:
            return None
        current = parent
    try:
        st = os.stat(os.path.join(git_dir, "index"))
    except OSError:
        return None
    return [os.path.abspath(flake), st.st_size, st.st_mtime_ns, st.st_ino]


def _helper_flags(helper: str, flake_dir: str) -> list[str] | None:
    """What ``nix_offline.py flags`` prints, run in-process in ``flake_dir``; None when it fails."""
    # pylint: disable=import-outside-toplevel  # only when the offline helper is installed
    import contextlib
    import io
    import runpy
    out = io.StringIO()
    cwd = os.getcwd()
    try:
        os.chdir(flake_dir)
        with contextlib.redirect_stdout(out):
            namespace = runpy.run_path(helper, run_name="nix_offline_flags")
            rc = namespace["flags"]()
    except (Exception, SystemExit):  # pylint: disable=broad-exception-caught  # the command reports it
        return None
    finally:
        os.chdir(cwd)
    return out.getvalue().split() if rc in (0, None) else None


class InventoryModule(BaseInventoryPlugin, Constructable, Cacheable):
    """Clan machines as Ansible hosts."""

    NAME = "fleet.migration.clan"

    def verify_file(self, path: str) -> bool:
        return super().verify_file(path) and path.endswith(("clan.yml", "clan.yaml"))

    def parse(self, inventory, loader, path, cache=True):
        super().parse(inventory, loader, path, cache)
        config = self._read_config_data(path)
        self._check_option_names(path, config)
        flake = self.get_option("flake") or self._flake_of(path)
        data = self._cached_or_evaluated(path, flake, cache)
        try:
            hosts = clan_inventory.build_hosts(data)
        except clan_inventory.InventoryDataError as exc:
            raise AnsibleParserError("fleet.migration.clan: malformed inventory from flake '%s': %s" % (flake, exc))
        self._populate(hosts)

    def _check_option_names(self, path: str, config) -> None:
        """A misspelled option is an error: Ansible itself ignores unknown keys."""
        valid = sorted(self._options)
        unknown = sorted(str(key) for key in config if key not in self._options)
        if not unknown:
            return
        import difflib  # pylint: disable=import-outside-toplevel  # only on this error path
        hints = []
        for key in unknown:
            close = difflib.get_close_matches(key, valid, n=1)
            hints.append("'%s' (did you mean '%s'?)" % (key, close[0]) if close else "'%s'" % key)
        raise AnsibleParserError(
            "fleet.migration.clan: unknown option %s in %s: expected one of %s; fix the spelling or remove it"
            % (", ".join(hints), path, ", ".join(valid)))

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
        cached = {}
        if use_cache and cache:
            try:
                cached = self._cache[key]
            except KeyError:
                cached = {}
            cached = cached if isinstance(cached, dict) else {}
        # The tracked-file list changes only when git's index does: reuse it
        # instead of running `git ls-files` on every start.
        index = _git_index_signature(flake)
        files = cached.get("files") if index is not None and cached.get("files_index") == index else None
        fingerprint, files = self._fingerprint(flake, files)
        if cached.get("fingerprint") == fingerprint and "data" in cached:
            return cached["data"]
        data = self._evaluate(flake)
        if use_cache:
            self._cache[key] = {"fingerprint": fingerprint, "data": data, "files_index": index, "files": files}
        return data

    def _evaluate(self, flake: str) -> dict:
        if self.get_option("source") == "clan_cli":
            return self._select_with_clan(flake)
        try:
            flags = self._offline_flags(flake) + list(self.get_option("nix_flags") or [])
            return nix_eval.eval_json(
                ".",
                flake=flake,
                apply=clan_inventory.INVENTORY_APPLY,
                nix_bin=self.get_option("nix_bin"),
                nix_flags=flags,
                offline="never",
                timeout=self.get_option("timeout"),
            )
        except nix_eval.NixError as exc:
            raise AnsibleParserError("fleet.migration.clan: %s" % exc)

    def _offline_flags(self, flake: str) -> list[str]:
        """nix_eval.offline_flags, with the discovered helper run in this process.

        Starting a second Python for ``nix_offline.py flags`` cost about as much
        as the evaluation itself; its ``flags()`` only reads flake.lock. Any
        failure falls back to nix_eval.offline_flags, which runs the helper as a
        command and reports its error.
        """
        mode = self.get_option("nix_offline")
        command = self.get_option("offline_flags_command")
        _ref, flake_dir = nix_eval.resolve_flake(flake)
        helper = nix_eval.find_offline_helper(flake_dir) if mode != "never" and not command else None
        flags = _helper_flags(helper, flake_dir) if helper and flake_dir else None
        if flags is None:
            return nix_eval.offline_flags(flake_dir, mode, command)
        if flags and "--no-write-lock-file" not in flags:
            flags.append("--no-write-lock-file")
        return flags

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
            if "attribute 'clanInternals' missing" in stderr:
                # What the nix source reports as "no clan found", in the same words.
                raise AnsibleParserError(
                    "fleet.migration.clan: no clan found in flake '%s': expected the flake output "
                    "clanInternals.inventoryClass.inventory (every clan made with clan-core's lib.clan or "
                    "flakeModules.default has it), found a flake without clanInternals ('%s' said: %s); export the "
                    "clan the way clan-core's templates do (templates/clan/default) or set flake to a clan"
                    % (ref, shown, tail.splitlines()[-1]))
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

    def _fingerprint(self, flake: str, files: list | None = None) -> tuple[str, list | None]:
        """A digest of everything the evaluation depends on, and the file list it used.

        For a local flake: every tracked file's path, size and mtime (nix only
        sees files git tracks; outside git, every .nix file and flake.lock),
        plus the options that change the evaluation. ``files`` is a tracked
        file list known to be current (from the cache), else it is read.
        """
        digest = hashlib.sha256()
        options = [flake, self.get_option("nix_bin"), self.get_option("nix_flags"), self.get_option("nix_offline"),
                   self.get_option("offline_flags_command"), _CACHE_FORMAT, os.environ.get("FLEET_NIX_ONLINE"),
                   self.get_option("source"), self.get_option("clan_bin"), self.get_option("clan_flags")]
        digest.update(json.dumps(options, sort_keys=True, default=str).encode())
        if not os.path.isdir(flake):
            return digest.hexdigest(), None
        if files is None:
            files = self._flake_files(flake)
        for rel in files:
            try:
                st = os.stat(os.path.join(flake, rel))
            except OSError:
                continue
            digest.update(("%s\0%d\0%d\n" % (rel, st.st_size, st.st_mtime_ns)).encode())
        return digest.hexdigest(), files

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

    def _role_groups(self) -> dict:
        """``{group: (module pattern, role)}`` from the role_groups option, checked."""
        groups = {}
        for group, spec in (self.get_option("role_groups") or {}).items():
            if not isinstance(spec, dict) or set(spec) != {"module", "role"} \
                    or not all(isinstance(spec[k], str) and spec[k] for k in spec):
                raise AnsibleParserError(
                    "fleet.migration.clan: role_groups.%s: expected {module: NAME, role: ROLE} (a clan service "
                    "module name and one of its roles), found %r; fix role_groups in the inventory file"
                    % (group, spec))
            pattern = re.compile(r"^(@[^/]+/)?%s$" % re.escape(spec["module"]))
            groups[to_safe_group_name(group, force=True, silent=True)] = (pattern, spec["role"])
        return groups

    @staticmethod
    def _holds(hostvars: dict, pattern, role: str) -> bool:
        modules = hostvars["clan_service_modules"]
        return any(role in roles and pattern.match(modules[instance])
                   for instance, roles in hostvars["clan_services"].items())

    def _populate(self, hosts: dict) -> None:
        strict = self.get_option("strict")
        role_groups = self._role_groups()
        class_prefix = self.get_option("class_group_prefix")
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
            # Role groups before class groups: the order the groups/keyed_groups options used to add them.
            for group, (pattern, role) in role_groups.items():
                if self._holds(hostvars, pattern, role):
                    self.inventory.add_child(self.inventory.add_group(group), name)
            if class_prefix:
                group = to_safe_group_name(class_prefix + hostvars["clan_machine_class"], force=True, silent=True)
                self.inventory.add_child(self.inventory.add_group(group), name)
            for var, value in hostvars.items():
                self.inventory.set_variable(name, var, value)
            # Constructed features see the plugin's variables merged with any set so far.
            merged = self.inventory.get_host(name).get_vars()
            try:
                self._set_composite_vars(self.get_option("compose"), merged, name, strict=strict)
                self._add_host_to_composed_groups(self.get_option("groups"), merged, name, strict=strict)
                self._add_host_to_keyed_groups(self.get_option("keyed_groups"), merged, name, strict=strict)
            except AnsibleError as exc:
                self._raise_if_fleet_fact_missing(name, hostvars, exc)
                raise

    @staticmethod
    def _raise_if_fleet_fact_missing(name: str, hostvars: dict, exc: Exception) -> None:
        """Name the missing fleet fact when a strict compose/groups/keyed_groups expression needed it."""
        text = str(exc)
        needed = [var for var in hostvars.get("fleet_facts_missing", []) if var in text]
        if needed:
            raise AnsibleParserError(
                "fleet.migration.clan: host '%s': an expression of compose, groups or keyed_groups needs %s, "
                "expected from %s; found nothing (fleet_facts_missing: %s). Add that to the flake, give the "
                "expression a default (e.g. %s | default(...)), or set strict: false to skip it. Ansible said: %s"
                % (name, ", ".join(needed), "; ".join(clan_inventory.FLEET_FACTS[v] for v in needed),
                   hostvars["fleet_facts_missing"], needed[0], text.splitlines()[0] if text else "")) from exc
