#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Copyright: Fleet migration control plane maintainers
from __future__ import annotations

DOCUMENTATION = r"""
---
module: nix_flake
short_description: Evaluate, check or build a nix flake and return structured errors
description:
  - C(eval) runs C(nix eval --json <flake>#<attr>), optionally with C(--apply), and returns the parsed value.
  - C(check) runs C(nix flake check).
  - C(build) runs C(nix build --print-out-paths) and returns the store paths.
    In check mode it runs C(nix build --dry-run) instead and builds nothing.
  - When the offline helper (C(shared/nix-offline/nix_offline.py)) is found, its C(--override-input) flags are added
    (O(offline=auto)), so the same task works offline and online.
  - Failures return RV(error) with a C(kind) (C(nix_missing), C(flake_not_found), C(eval_error), C(build_error),
    C(timeout), C(bad_output), C(offline_flags)), the command, the exit code and nix's error text.
version_added: "0.1.0"
author:
  - Fleet migration control plane maintainers (@cameronraysmith)
options:
  flake:
    description: Path of a local flake (must contain flake.nix) or a flake reference such as C(github:owner/repo).
    type: str
    default: "."
  action:
    description: What to do with the flake.
    type: str
    choices: [eval, check, build]
    default: eval
  attr:
    description: Attribute path after C(#), for example C(clan.inventory.machines). Required for eval and build.
    type: str
  apply:
    description: A nix function applied to the value before printing (C(--apply)), eval only.
    type: str
  nix_flags:
    description: Extra flags, for example C([--override-input, nixpkgs, path:/x]) or C([--offline]).
    type: list
    elements: str
    default: []
  offline:
    description: C(auto) adds the offline helper's flags when it is found, C(always) fails without it, C(never) skips it.
    type: str
    choices: [auto, always, never]
    default: auto
  out_link:
    description: For build, create this result symlink (C(--out-link)) instead of none; C(changed) then means it moved.
    type: path
  nix_bin:
    description: The nix executable.
    type: str
    default: nix
  timeout:
    description: Seconds after which nix is stopped and the module fails.
    type: int
    default: 600
extends_documentation_fragment:
  - fleet.migration.command_environment
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
    details: eval and check never change anything; build runs C(nix build --dry-run) and moves no O(out_link).
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: partial
    details: Only build with O(out_link) has a diff (the link's target before and after).
  platform:
    description: Target OS/families that can be operated against.
    support: full
    platforms: posix
    details: Wherever nix is installed (Linux or macOS); usually the controller.
"""

EXAMPLES = r"""
- name: Read the clan inventory's machines
  fleet.migration.nix_flake:
    flake: "{{ playbook_dir }}/.."
    attr: clan.inventory.machines
  register: machines
  delegate_to: localhost

- name: Names of the darwin machines only
  fleet.migration.nix_flake:
    flake: "{{ playbook_dir }}/.."
    attr: clan.inventory.machines
    apply: 'ms: builtins.filter (n: (ms.${n}.machineClass or "nixos") == "darwin") (builtins.attrNames ms)'
  register: darwin_machines
  delegate_to: localhost

- name: Check the flake
  fleet.migration.nix_flake:
    flake: "{{ playbook_dir }}/.."
    action: check
    nix_flags: [--no-build]

- name: Build the test VM's system into ./result-testvm
  fleet.migration.nix_flake:
    flake: "{{ playbook_dir }}/.."
    action: build
    attr: nixosConfigurations.testvm.config.system.build.toplevel
    out_link: "{{ playbook_dir }}/../result-testvm"
  delegate_to: localhost
"""

RETURN = r"""
value:
  description: The evaluated value (eval).
  returned: when action is eval and it succeeded
  type: raw
  sample: {"ssh": 22, "zerotier": 9993}
out_paths:
  description: Store paths built (build), or the paths that would be built (build in check mode).
  returned: when action is build
  type: list
  elements: str
cmd:
  description: The nix command that ran.
  returned: always
  type: list
  elements: str
error:
  description: Structured error, returned on failure.
  returned: failure
  type: dict
  contains:
    kind:
      description: One of nix_missing, flake_not_found, eval_error, build_error, timeout, bad_output, offline_flags.
      type: str
    msg:
      description: What was expected, what was found, what to do.
      type: str
    cmd:
      description: The command (argv).
      type: list
    rc:
      description: nix's exit code.
      type: int
    stderr:
      description: nix's error text without warnings.
      type: str
stderr:
  description: nix's stderr (warnings included) for check and build.
  returned: when action is check or build
  type: str
"""

import json
import os

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.fleet.migration.plugins.module_utils import nix_eval
from ansible_collections.fleet.migration.plugins.module_utils.runner import CommandError, environment_args, runner_for

BUILD_ERROR = "build_error"


def nix_failure(error: CommandError, action: str, installable: str) -> nix_eval.NixError:
    """A runner failure as nix_eval's structured error."""
    if error.kind == "not_found":
        return nix_eval.NixError(nix_eval.NIX_MISSING, str(error), cmd=error.argv)
    if error.kind == "timeout":
        return nix_eval.NixError(nix_eval.TIMEOUT, str(error), cmd=error.argv)
    text = nix_eval.nix_error_text(error.stderr)
    kind = nix_eval.classify(error.stderr)
    # nix 2.34: "Cannot build '<drv>'. Reason: builder failed"; older: "builder for '<drv>' failed".
    if kind == nix_eval.EVAL_ERROR and action == "build" and ("Cannot build" in text or "builder for" in text):
        kind = BUILD_ERROR
    what = {"check": "nix flake check", "build": "nix build"}[action]
    message = "%s failed (exit %s) for '%s':\n%s\n%s" % (
        what, error.rc, installable, text,
        "check the flake option" if kind == nix_eval.FLAKE_NOT_FOUND else
        "fix the derivation's build (see the log with `nix log`)" if kind == BUILD_ERROR else
        "fix the flake so that it evaluates, then rerun")
    return nix_eval.NixError(kind, message, cmd=error.argv, rc=error.rc, stderr=text)


def run_module() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            flake=dict(type="str", default="."),
            action=dict(type="str", default="eval", choices=["eval", "check", "build"]),
            attr=dict(type="str"),
            apply=dict(type="str"),
            nix_flags=dict(type="list", elements="str", default=[]),
            offline=dict(type="str", default="auto", choices=["auto", "always", "never"]),
            out_link=dict(type="path"),
            nix_bin=dict(type="str", default="nix"),
            timeout=dict(type="int", default=600),
            **environment_args(),
        ),
        required_if=[("action", "eval", ["attr"]), ("action", "build", ["attr"])],
        supports_check_mode=True,
    )
    params = module.params
    action = params["action"]
    result = dict(changed=False, cmd=[])
    runner = runner_for(module)
    try:
        flake_ref, flake_dir = nix_eval.resolve_flake(params["flake"])
        flags = nix_eval.offline_flags(flake_dir, params["offline"]) + list(params["nix_flags"])
        installable = "%s#%s" % (flake_ref, params["attr"]) if params["attr"] else flake_ref
        if action == "eval":
            argv = nix_eval.eval_argv(params["attr"], flake_ref, apply=params["apply"], nix_bin=params["nix_bin"],
                                      nix_flags=flags)
            result["cmd"] = argv
            stdout = nix_eval.run_nix(argv, timeout=params["timeout"], cwd=flake_dir, env=runner.environment())
            try:
                result["value"] = json.loads(stdout)
            except ValueError as exc:
                raise nix_eval.NixError(nix_eval.BAD_OUTPUT, "nix printed no JSON for '%s': found %r; check nix_flags "
                                        "for options that change the output" % (installable, stdout[:200]),
                                        cmd=argv) from exc
        else:
            if action == "check":
                argv = [params["nix_bin"], "flake", "check", flake_ref] + flags
            else:
                argv = [params["nix_bin"], "build", installable, "--print-out-paths"] + flags
                if module.check_mode:
                    argv += ["--dry-run", "--json"]
                elif params["out_link"]:
                    argv += ["--out-link", params["out_link"]]
                else:
                    argv.append("--no-link")
            result["cmd"] = argv
            before = os.path.realpath(params["out_link"]) if params["out_link"] and \
                os.path.islink(params["out_link"]) else None
            try:
                ran = runner.run(argv, cwd=flake_dir)
            except CommandError as error:
                raise nix_failure(error, action, installable) from None
            result["stderr"] = ran.stderr
            if action == "build" and module.check_mode:
                built = json.loads(ran.stdout or "[]")
                result["out_paths"] = [p for item in built for p in (item.get("outputs") or {}).values()]
                result["changed"] = bool(params["out_link"]) and before not in result["out_paths"]
            elif action == "build":
                result["out_paths"] = [line for line in ran.stdout.split() if line.startswith("/")]
                if params["out_link"]:
                    after = os.path.realpath(params["out_link"])
                    result["changed"] = before != after
                    if module._diff:
                        result["diff"] = dict(before="%s -> %s\n" % (params["out_link"], before),
                                              after="%s -> %s\n" % (params["out_link"], after))
    except nix_eval.NixError as error:
        # nix echoes its environment's settings in some errors (NIX_CONFIG): scrub the secret ones.
        details = {key: runner.scrub(value) if isinstance(value, (str, list)) else value
                   for key, value in error.to_dict().items()}
        module.fail_json(msg=runner.scrub(str(error)), error=details, **result)
    module.exit_json(**result)


def main() -> None:
    run_module()


if __name__ == "__main__":
    main()
