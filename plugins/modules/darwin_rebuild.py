#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Copyright: Fleet migration control plane maintainers
from __future__ import annotations

DOCUMENTATION = r"""
---
module: darwin_rebuild
short_description: Build, switch, check, roll back and list nix-darwin generations
description:
  - Wraps C(darwin-rebuild) on a macOS host with C(--flake <flake>#<host>).
  - C(changed) means the current system generation (the one marked current by C(darwin-rebuild --list-generations))
    changed. Switching to the configuration that already runs creates no generation, so a second run reports no change.
  - In check mode C(switch) builds only and reports whether the built system differs from the running one;
    C(rollback) reports the generation it would switch to.
  - C(rollback) goes to the previous generation, or to O(generation) when given (idempotent then).
  - Reads the system profile and the active system (O(current_system), which activation points at the system it
    activated as its last step). darwin-rebuild sets the profile before it activates, so a failed activation leaves
    the profile at the new generation while the old system still runs; the failure result says which
    (RV(generation_after), RV(running_system), RV(running_matches_profile)) and the message points at
    C(playbooks/rollback-darwin.yml). A switch or rollback that succeeds but leaves another system active fails.
version_added: "0.1.0"
author:
  - Fleet migration control plane maintainers (@cameronraysmith)
options:
  host:
    description:
      - Name under C(darwinConfigurations) in the flake (C(--flake <flake>#<host>)).
      - Required for build, switch and check.
    type: str
  flake:
    description: Path or reference of the flake.
    type: str
    default: "."
  action:
    description: What to do.
    type: str
    choices: [build, switch, check, rollback, list_generations]
    default: switch
  generation:
    description: With O(action=rollback), the generation to switch to (C(--switch-generation)); default is the previous one.
    type: int
  nix_flags:
    description: Extra flags passed to darwin-rebuild, for example C([--override-input, nixpkgs, path:/x]) or C([--offline]).
    type: list
    elements: str
    default: []
  profile:
    description: The system profile darwin-rebuild manages; read to report the system store path before and after.
    type: path
    default: /nix/var/nix/profiles/system
  current_system:
    description: The link to the active system, written by the activation script (C(ln -sfn ... /run/current-system)).
    type: path
    default: /run/current-system
  darwin_rebuild_bin:
    description: The darwin-rebuild executable.
    type: str
    default: darwin-rebuild
  timeout:
    description: Seconds after which a command is stopped and the module fails.
    type: int
    default: 3600
extends_documentation_fragment:
  - fleet.migration.command_environment
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
    details:
      - C(switch) builds only (in a scratch directory) and compares the result with the active system.
      - C(rollback) reports the generation it would switch to; C(check) and C(build) change nothing anyway.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: partial
    details: For switch and rollback only, and no closure difference; the diff shows the generation, the profile's
      system and the active system before and after.
  platform:
    description: Target OS/families that can be operated against.
    support: full
    platforms: darwin
    details: "Runs on the macOS host itself; switch, check and rollback need root (C(become: true))."
notes:
  - "switch, check and rollback must run as root (C(become: true)); darwin-rebuild refuses otherwise."
"""

EXAMPLES = r"""
- name: Switch blackphos to the fleet configuration
  fleet.migration.darwin_rebuild:
    host: blackphos
    flake: "{{ fleet_host_flake }}"
  become: true
  register: switched

- name: Roll back to generation 41
  fleet.migration.darwin_rebuild:
    action: rollback
    generation: 41
  become: true

- name: List generations
  fleet.migration.darwin_rebuild:
    action: list_generations
  register: darwin_generations
"""

RETURN = r"""
changed:
  description: Whether the current system generation changed (in check mode, whether it would).
  returned: always
  type: bool
generation_before:
  description: Current generation before the run; null when the profile has none.
  returned: always
  type: int
  sample: 41
generation_after:
  description:
    - Current generation after the run (in check mode, the one it would be, if known).
    - After a failed switch, the generation the profile ended on, which may be the new one although it is not active.
  returned: always
  type: int
  sample: 42
profile_generation:
  description: The same as RV(generation_after), named for what it is.
  returned: always
  type: int
  sample: 42
running_system_before:
  description: What O(current_system) pointed at before the run; null when it did not exist.
  returned: always
  type: str
running_system:
  description: What O(current_system) points at after the run (in check mode, before); the active system.
  returned: always
  type: str
running_matches_profile:
  description: Whether RV(running_system) is the profile's system. False after a failed activation.
  returned: always
  type: bool
generations:
  description: Generations after the run, oldest first.
  returned: always
  type: list
  elements: dict
  sample: [{"generation": 41, "date": "2026-11-20 10:02:11", "current": false}]
system_before:
  description: Store path of the system profile before the run.
  returned: always
  type: str
system_after:
  description: Store path after the run; for build and check-mode switch, the path that was built.
  returned: always
  type: str
cmd:
  description: The darwin-rebuild command that did the work.
  returned: when it ran
  type: str
stdout:
  description: Its standard output.
  returned: when it ran
  type: str
stderr:
  description: Its standard error.
  returned: when it ran
  type: str
"""

import os
import re
import tempfile

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.fleet.migration.plugins.module_utils.runner import (
    CommandError,
    environment_args,
    fail_from_error,
    runner_for,
)

# nix-env --list-generations: "%4d   YYYY-MM-DD HH:MM:SS   (current)"
GENERATION_LINE = re.compile(r"^\s*(\d+)\s+(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)\s*(\(current\))?\s*$")
ROOT_HINT = "run the task as root (become: true); darwin-rebuild activates the system only as root"
ROLLBACK_PLAYBOOK = "playbooks/rollback-darwin.yml"


def parse_generations(text: str) -> list[dict]:
    found = []
    for line in text.splitlines():
        match = GENERATION_LINE.match(line)
        if match:
            found.append(dict(generation=int(match.group(1)), date=match.group(2), current=bool(match.group(3))))
    return found


def current_of(generations: list[dict]) -> int | None:
    return next((g["generation"] for g in generations if g["current"]), None)


def store_path(profile: str) -> str | None:
    return os.path.realpath(profile) if os.path.islink(profile) else None


def running_system(path: str) -> str | None:
    """The active system: activate's last step is `ln -sfn <system> /run/current-system`."""
    return os.readlink(path) if os.path.islink(path) else None


def shown(running: str | None) -> str:
    return running or "nothing (no /run/current-system)"


def record_after(result: dict, params: dict, gens: list[dict]) -> None:
    """The profile's generation and what the host runs, under the documented keys."""
    result.update(generations=gens, generation_after=current_of(gens), profile_generation=current_of(gens),
                  system_after=store_path(params["profile"]), running_system=running_system(params["current_system"]))
    result["running_matches_profile"] = bool(result["running_system"]) and \
        result["running_system"] == result["system_after"]


def ended_on(darwin, result: dict) -> str:
    """After a failed switch or rollback: the generation the host ended on, and what to do."""
    params = darwin.module.params
    try:
        gens = darwin.generations()
    except CommandError as error:
        return ("what the host runs now is unknown (the generations could not be listed: %s); check "
                "`darwin-rebuild --list-generations` and %s by hand, or run %s"
                % (error, params["current_system"], ROLLBACK_PLAYBOOK))
    record_after(result, params, gens)
    if (result["generation_after"], result["running_system"]) == \
            (result["generation_before"], result["running_system_before"]):
        return ("the host is unchanged: the profile is still at generation %s and the running system is %s. "
                "Fix the error and rerun" % (result["generation_after"], shown(result["running_system"])))
    return ("the profile now points at generation %s (%s) while the running system is %s%s. Run %s to return to "
            "generation %s, or fix the error and rerun"
            % (result["generation_after"], result["system_after"], shown(result["running_system"]),
               "" if result["running_matches_profile"] else " (not the profile's system)", ROLLBACK_PLAYBOOK,
               result["generation_before"]))


class Darwin:
    def __init__(self, module: AnsibleModule, runner) -> None:
        self.module = module
        self.runner = runner

    def argv(self, *words: str) -> list[str]:
        return [self.module.params["darwin_rebuild_bin"]] + list(words)

    def flake_argv(self, action: str) -> list[str]:
        params = self.module.params
        return self.argv(action, "--flake", "%s#%s" % (params["flake"], params["host"])) + list(params["nix_flags"])

    def hint_for(self, result_stderr: str, default: str) -> str:
        return ROOT_HINT if "must now be run as root" in result_stderr else default

    def run(self, argv: list[str], default_hint: str, cwd: str | None = None):
        result = self.runner.run(argv, check=False, cwd=cwd)
        if result.rc != 0:
            raise CommandError("exit", result.argv, result.rc, result.stdout, result.stderr,
                               self.hint_for(result.stderr, default_hint))
        return result

    def generations(self) -> list[dict]:
        result = self.run(self.argv("--list-generations"), "check that %s is the nix-darwin system profile"
                          % self.module.params["profile"])
        return parse_generations(result.stdout)

    def build(self):
        """`darwin-rebuild build` in a scratch directory (it leaves ./result there); returns (result, path)."""
        params = self.module.params
        with tempfile.TemporaryDirectory(prefix="darwin-rebuild-") as scratch:
            result = self.run(self.flake_argv("build"), "fix darwinConfigurations.%s in %s so that it builds"
                              % (params["host"], params["flake"]), cwd=scratch)
            link = os.path.join(scratch, "result")
            path = os.readlink(link) if os.path.islink(link) else None
        return result, path


def run_reporting(darwin, argv: list[str], hint: str, result: dict):
    """Run a switch or rollback; on failure, the error says which generation the host ended on.

    darwin-rebuild sets the profile before it activates, so a failed activation
    leaves the profile at the new generation while the old system still runs.
    """
    try:
        return darwin.run(argv, hint)
    except CommandError as error:
        if error.hint == ROOT_HINT:
            raise
        raise CommandError(error.kind, error.argv, error.rc, error.stdout, error.stderr,
                           "%s; %s" % (error.hint, ended_on(darwin, result)), error.detail) from None


def run_module() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            host=dict(type="str"),
            flake=dict(type="str", default="."),
            action=dict(type="str", default="switch",
                        choices=["build", "switch", "check", "rollback", "list_generations"]),
            generation=dict(type="int"),
            nix_flags=dict(type="list", elements="str", default=[]),
            profile=dict(type="path", default="/nix/var/nix/profiles/system"),
            current_system=dict(type="path", default="/run/current-system"),
            darwin_rebuild_bin=dict(type="str", default="darwin-rebuild"),
            timeout=dict(type="int", default=3600),
            **environment_args(),
        ),
        required_if=[("action", "build", ["host"]), ("action", "switch", ["host"]), ("action", "check", ["host"])],
        supports_check_mode=True,
    )
    params = module.params
    action = params["action"]
    darwin = Darwin(module, runner_for(module))
    result = dict(changed=False, action=action)
    try:
        gens = darwin.generations()
        before = current_of(gens)
        running_before = running_system(params["current_system"])
        result.update(generation_before=before, generation_after=before, generations=gens,
                      system_before=store_path(params["profile"]), system_after=store_path(params["profile"]),
                      running_system_before=running_before, running_system=running_before,
                      profile_generation=before)
        result["running_matches_profile"] = bool(running_before) and running_before == result["system_before"]
        ran = None
        if action == "build" or (action == "switch" and module.check_mode):
            ran, built = darwin.build()
            result["system_after"] = built
            if action == "switch":
                # Compared with what runs: a profile set by a failed activation is not running.
                result["changed"] = built != (running_before or result["system_before"])
                if result["changed"]:
                    result["generation_after"] = None  # a new generation: its number is known only after switching
        elif action == "rollback":
            numbers = [g["generation"] for g in gens]
            if params["generation"] is not None:
                target = params["generation"]
                if target not in numbers:
                    module.fail_json(msg="darwin_rebuild: expected generation %d to exist, found only %s; pick one "
                                         "from the generations result (action: list_generations)"
                                         % (target, numbers), **result)
            else:
                older = [n for n in numbers if before is not None and n < before]
                if not older:
                    module.fail_json(msg="darwin_rebuild: no generation older than the current (%s) exists, so there "
                                         "is nothing to roll back to; switch to a known good configuration instead"
                                         % before, **result)
                target = older[-1]
            if target != before:
                result.update(changed=True, generation_after=target, profile_generation=target)
                if not module.check_mode:
                    words = ["--rollback"] if params["generation"] is None else ["--switch-generation", str(target)]
                    ran = run_reporting(darwin, darwin.argv(*words), "read darwin-rebuild's error above", result)
        elif action == "switch":
            ran = run_reporting(darwin, darwin.flake_argv(action), "fix darwinConfigurations.%s in %s"
                                % (params["host"], params["flake"]), result)
        elif action == "check":
            ran = darwin.run(darwin.flake_argv(action), "fix darwinConfigurations.%s in %s; check changes nothing"
                             % (params["host"], params["flake"]))
        if ran is not None:
            result.update(cmd=ran.cmd, stdout=ran.stdout, stderr=ran.stderr)
        if not module.check_mode and action in ("switch", "rollback"):
            record_after(result, params, darwin.generations())
            result["changed"] = (result["generation_after"], result["running_system"]) != (before, running_before)
            if not result["running_matches_profile"]:
                module.fail_json(msg="darwin_rebuild %s: %s succeeded but the host runs %s, not the profile's "
                                     "generation %s (%s); expected %s to be the profile's system. Run %s or rerun "
                                     "the switch" % (params["host"] or "", action, shown(result["running_system"]),
                                                     result["generation_after"], result["system_after"],
                                                     params["current_system"], ROLLBACK_PLAYBOOK), **result)
    except CommandError as error:
        fail_from_error(module, error, **result)
    if module._diff and action in ("switch", "rollback"):
        result["diff"] = dict(
            before="generation: %s\nsystem: %s\nrunning: %s\n"
                   % (result["generation_before"], result["system_before"], result["running_system_before"]),
            after="generation: %s\nsystem: %s\nrunning: %s\n"
                  % (result["generation_after"], result["system_after"], result["running_system"]),
        )
    module.exit_json(**result)


def main() -> None:
    run_module()


if __name__ == "__main__":
    main()
