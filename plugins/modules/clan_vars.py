#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Copyright: Fleet migration control plane maintainers
from __future__ import annotations

DOCUMENTATION = r"""
---
module: clan_vars
short_description: Generate, check, list or regenerate clan vars of a machine without revealing their values
description:
  - Wraps C(clan vars check), C(clan vars generate) and C(clan vars list) for one machine.
  - Returns which generators ran and the paths of their files, never a value. clan prints public values while
    generating; the module drops clan's output instead of returning it.
  - C(generate) is idempotent, because C(clan vars generate) runs only the generators with a missing file, so a second
    run reports no change. Afterwards the module runs C(clan vars check) once and returns RV(missing_after); it
    fails when anything is still missing, so a deploy needs no separate C(action=check) task.
  - C(regenerate) rotates the named generators (and, as clan does, the generators that depend on them).
    It always changes something, and it refuses to run without O(generators), because regenerating
    everything would replace every secret of the machine.
version_added: "0.1.0"
author:
  - Fleet migration control plane maintainers (@cameronraysmith)
options:
  machine:
    description: Name of the machine in the clan inventory.
    type: str
    required: true
  flake:
    description:
      - The clan flake, a path or a local flake reference (C(path:DIR), C(git+file://DIR)); clan writes the vars into
        its C(vars/) directory, where RV(files) are looked up.
      - With a remote reference (C(github:owner/repo)) RV(files) is empty, because there is no local checkout.
    type: str
    default: "."
  action:
    description: What to do with the vars.
    type: str
    choices: [generate, check, list, regenerate]
    default: generate
  generators:
    description: Generators to act on; empty means all generators of the machine (not allowed for regenerate).
    type: list
    elements: str
    default: []
  fail_on_missing:
    description: With O(action=check), fail when vars are missing instead of only reporting them in RV(missing).
    type: bool
    default: false
  no_sandbox:
    description: Run generators without clan's sandbox (C(--no-sandbox)).
    type: bool
    default: false
  nix_options:
    description: Nix options passed as C(--option NAME VALUE) pairs.
    type: dict
    default: {}
  clan_bin:
    description: The clan executable.
    type: str
    default: clan
  timeout:
    description: Seconds after which a command is stopped and the module fails.
    type: int
    default: 900
extends_documentation_fragment:
  - fleet.migration.command_environment
  - fleet.migration.in_worker
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
    details: C(generate) and C(regenerate) only report what would run (from C(clan vars check)); nothing is written.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: none
    details: The values are secret; RV(files) names the files that changed.
  platform:
    description: Target OS/families that can be operated against.
    support: full
    platforms: posix
    details: "Runs on the controller, where the flake and the sops age key are (C(delegate_to: localhost))."
"""

EXAMPLES = r"""
- name: Generate the vars cinnabar still lacks
  fleet.migration.clan_vars:
    machine: cinnabar
    flake: "{{ playbook_dir }}/.."
  delegate_to: localhost

- name: Fail when any zerotier var of cinnabar is missing
  fleet.migration.clan_vars:
    machine: cinnabar
    flake: "{{ fleet_flake }}"
    action: check
    generators: [zerotier-identity, zerotier-ip]
    fail_on_missing: true
  delegate_to: localhost

- name: Generate what a deploy needs, checked once (no separate check task)
  fleet.migration.clan_vars:
    machine: "{{ inventory_hostname }}"
    flake: "{{ fleet_flake }}"
  register: vars_result
  delegate_to: localhost
  when: inventory_hostname in groups['phase1']

- name: Rotate the SSH host certificate of electrum
  fleet.migration.clan_vars:
    machine: electrum
    flake: "{{ fleet_flake }}"
    action: regenerate
    generators: [openssh-cert]
  environment:
    SOPS_AGE_KEY_FILE: "{{ lookup('ansible.builtin.env', 'HOME') }}/.config/sops/age/keys.txt"
  delegate_to: localhost
"""

RETURN = r"""
generators_ran:
  description: Generators that ran (in check mode, that would run).
  returned: always
  type: list
  elements: str
  sample: [openssh, zerotier]
files:
  description: Paths of the var files of the generators acted on (list and check, all requested generators), never their contents.
  returned: always
  type: list
  elements: str
  sample: [vars/per-machine/cinnabar/openssh/ssh.id_ed25519/secret]
missing:
  description:
    - Vars (C(generator/file)) that were missing before the run.
    - With O(action=generate) outside check mode, the vars that C(clan vars generate) wrote (it runs only
      generators with a missing file, and writes every file of such a generator).
  returned: always
  type: list
  elements: str
  sample: [zerotier/zerotier-identity-secret]
missing_after:
  description:
    - With O(action=generate), the vars that C(clan vars check) reports missing after generating (of O(generators),
      or of every generator when empty). Always empty on success, because the module fails otherwise.
    - In check mode nothing is generated, so it equals RV(missing).
  returned: when action is generate
  type: list
  elements: str
  sample: []
vars:
  description: With O(action=list), every var with whether it is set and whether it is secret; no values.
  returned: when action is list
  type: list
  elements: dict
  sample: [{"generator": "openssh", "name": "ssh.id_ed25519", "set": true, "secret": true}]
cmds:
  description: The clan commands that ran.
  returned: always
  type: list
  elements: str
"""

import os
import re

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.fleet.migration.plugins.module_utils.module_like import ModuleLike
from ansible_collections.fleet.migration.plugins.module_utils import clan_cli
from ansible_collections.fleet.migration.plugins.module_utils.clan_cli import clan_argv
from ansible_collections.fleet.migration.plugins.module_utils.runner import (
    CommandError,
    environment_args,
    fail_from_error,
    runner_for,
)

# clan_lib/vars/_types.py: "Updated var g/f for machines: m" and "Updated secret var g/f ...".
UPDATED_LINE = re.compile(r"(?:Updated|Migrated) (?:secret )?var ([^/\s]+)/(\S+) for machines")
# clan_cli/vars/list.py prints "generator/file: value"; secrets are "********".
LIST_LINE = re.compile(r"^([^/\s]+)/(\S+?): (.*)$")


class Clan:
    def __init__(self, module: ModuleLike, runner) -> None:
        self.module = module
        self.runner = runner
        self.cmds: list[str] = []

    def run(self, sub: list[str], ok_rcs=(0,), hint: str = ""):
        params = self.module.params
        argv = clan_argv(params, ["vars"] + sub)
        # clan's generate log carries public values: keep them out of results and errors.
        result = self.runner.run(argv, ok_rcs=ok_rcs, hint=hint)
        self.cmds.append(result.cmd)
        return result

    def missing(self, generators: list[str]) -> list[str]:
        machine = self.module.params["machine"]
        found: list[str] = []
        for generator in generators or [None]:
            sub = ["check", machine] + (["--generator", generator] if generator else [])
            argv = clan_argv(self.module.params, ["vars"] + sub)
            reported = clan_cli.missing_vars(self.runner, argv, hint="run `clan vars check %s` by hand; a generator "
                                             "name that does not exist for %s fails here" % (machine, machine))
            self.cmds.append(self.runner.history[-1].cmd)
            found += [v for v in reported if v not in found]
        return found

    def listing(self) -> list[dict]:
        machine = self.module.params["machine"]
        result = self.run(["list", machine], hint="run `clan vars list %s` by hand" % machine)
        entries = []
        for line in result.stdout.splitlines():
            match = LIST_LINE.match(line.strip())
            if match:
                value = match.group(3)
                entries.append(dict(generator=match.group(1), name=match.group(2),
                                    set=value != "<not set>", secret=value == "********"))
        return entries

    def generate(self, generator: str | None, regenerate: bool) -> list[tuple[str, str]]:
        machine = self.module.params["machine"]
        sub = ["generate", machine]
        if generator:
            sub += ["--generator", generator]
        if regenerate:
            sub.append("--regenerate")
        if self.module.params["no_sandbox"]:
            sub.append("--no-sandbox")
        try:
            result = self.run(sub, hint="run `clan vars generate %s` by hand to see the generator's own error; "
                              "a missing age key (SOPS_AGE_KEY_FILE) is the usual cause" % machine)
        except CommandError as error:
            # Public values appear in clan's log: re-raise without them.
            raise CommandError(error.kind, error.argv, error.rc, "", strip_values(error.stderr), error.hint,
                               error.detail) from None
        return UPDATED_LINE.findall(result.stderr + "\n" + result.stdout)


def strip_values(text: str) -> str:
    return "\n".join(line for line in text.splitlines() if not re.match(r"^(?:\[[^\]]*\] )?\s+(old|new): ", line))


# A flake reference with a scheme (github:, git+https:, ...), as opposed to a path.
FLAKE_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")
LOCAL_SCHEMES = ("git+file://", "git+file:", "path:", "file://", "file:")


def local_flake_dir(flake: str) -> str | None:
    """The checkout clan writes vars into: a path, or the directory of a path:/git+file:/file: reference (clan
    reads nix's `original.url`/`original.path`, clan_lib/flake/flake.py Flake.prefetch); None for a remote one."""
    ref = flake.split("?", 1)[0]
    for scheme in LOCAL_SCHEMES:
        if ref.startswith(scheme):
            return ref[len(scheme):]
    if FLAKE_SCHEME.match(ref):
        return None
    return ref


def var_files(flake: str, machine: str, entries: list[tuple[str, str]]) -> list[str]:
    """Existing files of the given vars: per-machine or shared, public `value` or sops `secret`."""
    base = local_flake_dir(flake)
    if base is None:
        return []
    files = []
    for generator, name in entries:
        for scope in (os.path.join("per-machine", machine), "shared"):
            for leaf in ("value", "secret"):
                path = os.path.join(base, "vars", scope, generator, name, leaf)
                if os.path.exists(path) and path not in files:
                    files.append(path)
    return files


def ordered_unique(items) -> list:
    seen: list = []
    for item in items:
        if item not in seen:
            seen.append(item)
    return seen


ARGUMENT_SPEC = dict(
    machine=dict(type="str", required=True),
    flake=dict(type="str", default="."),
    action=dict(type="str", default="generate", choices=["generate", "check", "list", "regenerate"]),
    generators=dict(type="list", elements="str", default=[]),
    fail_on_missing=dict(type="bool", default=False),
    no_sandbox=dict(type="bool", default=False),
    nix_options=dict(type="dict", default={}),
    clan_bin=dict(type="str", default="clan"),
    timeout=dict(type="int", default=900),
    **environment_args(),
)


def execute(module: ModuleLike) -> None:
    """The module's work; ``module`` is an AnsibleModule, or the action plugin's stand-in
    (plugins/plugin_utils/in_worker.py), which runs this in Ansible's worker on the controller."""
    params = module.params
    machine, action, generators = params["machine"], params["action"], params["generators"]
    if action == "regenerate" and not generators:
        module.fail_json(msg="machine %s: action=regenerate needs generators; name the generators to rotate "
                             "(regenerating all of them would replace every secret of %s)" % (machine, machine))
    clan = Clan(module, runner_for(module, env={"NO_COLOR": "1"}))
    result = dict(changed=False, generators_ran=[], files=[], missing=[], cmds=clan.cmds)
    try:
        if action == "list":
            entries = [e for e in clan.listing() if not generators or e["generator"] in generators]
            result["vars"] = entries
            result["missing"] = ["%s/%s" % (e["generator"], e["name"]) for e in entries if not e["set"]]
            result["files"] = var_files(params["flake"], machine, [(e["generator"], e["name"]) for e in entries])
        elif action == "check":
            result["missing"] = clan.missing(generators)
            entries = [(e["generator"], e["name"]) for e in clan.listing() if not generators or e["generator"] in generators]
            result["files"] = var_files(params["flake"], machine, entries)
            if result["missing"] and params["fail_on_missing"]:
                module.fail_json(msg="machine %s: expected all vars%s to exist, missing: %s; run "
                                     "fleet.migration.clan_vars with action=generate (or `clan vars generate %s`)"
                                     % (machine, " of " + ", ".join(generators) if generators else "",
                                        ", ".join(result["missing"]), machine), **result)
        elif action == "generate" and module.check_mode:
            result["missing"] = clan.missing(generators)
            result["missing_after"] = result["missing"]  # nothing is generated in check mode
            would_run = ordered_unique(v.split("/", 1)[0] for v in result["missing"])
            result.update(changed=bool(would_run), generators_ran=would_run)
        elif action == "generate":
            # `clan vars generate` without --regenerate runs only the generators with a missing
            # file (clan_lib/vars/generate.py: graph.all_missing_closure), so no check is needed
            # before it; the one check after it is the evidence (issue 13: once per deploy).
            updated = []
            for generator in generators or [None]:
                updated += clan.generate(generator, regenerate=False)
            result["missing"] = ordered_unique("%s/%s" % entry for entry in updated)
            result["generators_ran"] = ordered_unique(generator for generator, _file in updated)
            result["files"] = var_files(params["flake"], machine, ordered_unique(updated))
            result["changed"] = bool(updated)
            result["missing_after"] = clan.missing(generators)
            if result["missing_after"]:
                module.fail_json(msg="machine %s: clan vars generate ran but vars are still missing: %s; run "
                                     "`clan vars generate %s` by hand to see why"
                                     % (machine, ", ".join(result["missing_after"]), machine), **result)
        else:  # regenerate
            result["missing"] = clan.missing(generators)
            if module.check_mode:
                result.update(changed=True, generators_ran=list(generators))
            else:
                updated = []
                for generator in generators:
                    updated += clan.generate(generator, regenerate=True)
                result["generators_ran"] = ordered_unique(generator for generator, _file in updated)
                result["files"] = var_files(params["flake"], machine, ordered_unique(updated))
                result["changed"] = bool(updated)
    except CommandError as error:
        fail_from_error(module, error, **dict(result, stdout="", stderr=strip_values(error.stderr)))
    module.exit_json(**result)


def main() -> None:
    execute(AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True))


if __name__ == "__main__":
    main()
