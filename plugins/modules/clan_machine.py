#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Copyright: Fleet migration control plane maintainers
from __future__ import annotations

DOCUMENTATION = r"""
---
module: clan_machine
short_description: Install or update a clan machine and report whether its system generation changed
description:
  - Runs C(clan machines update) or C(clan machines install) for one machine of a clan flake.
  - Probes the target over SSH before and after (one command, its output marked so that nothing else can be taken
    for it) and reads both the system profile (C(/nix/var/nix/profiles/system)) and what the host runs
    (C(/run/current-system)). C(changed) means the profile's generation or the running system changed; a second run
    with the same configuration reports no change.
  - clan sets the profile before it activates, so a failed activation leaves the profile at the new generation while
    the old system still runs. The failure result says so (RV(generation_after), RV(running_system),
    RV(running_matches_profile)) and the message points at C(playbooks/rollback-nixos.yml). A run that succeeds but
    leaves the host running another system than the profile's fails.
  - In check mode the module never switches anything. It runs C(clan vars check) and, when every var exists,
    C(clan machines build) (evaluate and build only), then reports whether the built system differs from the running one.
  - C(install) formats the target's disks, so it runs only when the probe shows positively that the target is a
    Linux host with no NixOS (an C(/etc/os-release) C(ID) that is not C(nixos), no C(/etc/NIXOS), no NixOS system) or runs the NixOS
    installer image (C(nixos-system-nixos-*)). Any other probe outcome (ssh refused, timed out or hung, authentication
    or host key failure, a remote shell that failed or printed something else) refuses, even with O(force=true).
  - A target that already runs this machine's NixOS (C(nixos-system-<machine>-*)) is left alone unless O(force=true);
    another NixOS is refused unless O(force=true). Use O(action=update) for installed machines.
version_added: "0.1.0"
author:
  - Fleet migration control plane maintainers (@cameronraysmith)
options:
  machine:
    description: Name of the machine in the clan inventory.
    type: str
    required: true
  flake:
    description: Path or flake reference of the clan flake.
    type: str
    default: "."
  action:
    description: Whether to update an installed machine or install a new one.
    type: str
    choices: [install, update]
    default: update
  target_host:
    description:
      - SSH address of the machine in clan's form C([ssh://][user@]host[:port][?Option=value&...]), as in
        C(deploy.targetHost). An IPv6 host is written in brackets (C(root@[2001:db8::1]:2222)) or, without a port,
        bare (C(root@2001:db8::1)).
      - Passed to clan as C(--target-host) with an IPv6 host always in brackets (clan refuses a bare one). The probe
        runs C(ssh -p PORT [-o Option=value] user@host) with the host bare, as clan's own ssh calls do, and as
        C(root) when the address names no user (clan's default).
      - Required, because the module reads the system generation from it.
    type: str
  build_host:
    description: Machine that builds the configuration (C(--build-host), update only); C(localhost) builds locally.
    type: str
  nix_flags:
    description: Extra arguments appended to the clan command line verbatim, for example C([--upload-inputs]).
    type: list
    elements: str
    default: []
  nix_options:
    description: Nix options passed as C(--option NAME VALUE) pairs.
    type: dict
    default: {}
  host_key_check:
    description:
      - Host key check mode handed to clan (C(--host-key-check)); unset keeps clan's default.
      - C(accept-new) and C(tofu) both trust a host key on first use (C(StrictHostKeyChecking=accept-new)).
    type: str
    choices: [strict, ask, accept-new, tofu, none]
  identity_file:
    description: SSH private key used by C(clan machines install) (C(-i)).
    type: path
  update_hardware_config:
    description: Hardware report generated during install (C(--update-hardware-config)).
    type: str
    choices: [none, nixos-generate-config, nixos-facter]
  force:
    description:
      - Run C(install) even when the probe shows that the target runs NixOS (this reformats its disks).
      - Never overrides a probe that failed, because the module must know which host it would format.
    type: bool
    default: false
  reboot_timeout:
    description: After C(install) the target reboots; seconds to keep trying to read its system generation over SSH.
    type: int
    default: 900
  reboot_poll_interval:
    description: Seconds between those attempts.
    type: int
    default: 10
  clan_bin:
    description: The clan executable.
    type: str
    default: clan
  ssh_bin:
    description: The ssh executable used to probe the target.
    type: str
    default: ssh
  ssh_options:
    description: Options for the ssh call that probes the target; keep C(BatchMode=yes), a prompt would hang the probe.
    type: list
    elements: str
    default: ["-o", "BatchMode=yes", "-o", "ConnectTimeout=10"]
  timeout:
    description: Seconds after which a command is stopped and the module fails (the probe gets at most 120).
    type: int
    default: 3600
extends_documentation_fragment:
  - fleet.migration.command_environment
  - fleet.migration.in_worker
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
    details:
      - Builds with C(clan machines build) and compares with the running system; never switches or installs.
      - When vars are missing it reports them and skips the build, because building would generate them into the flake.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: full
    details: The diff shows the profile generation, the profile's system and the running system before and after.
  platform:
    description: Target OS/families that can be operated against.
    support: full
    platforms: posix
    details: "Runs on the controller (C(delegate_to: localhost)); the target is a Linux host reached over SSH."
seealso:
  - name: clan machines update
    description: Upstream command reference.
    link: https://docs.clan.lol/reference/cli/machines/
"""

EXAMPLES = r"""
- name: Update cinnabar, its address from the clan inventory plugin (port kept, IPv6 in brackets)
  fleet.migration.clan_machine:
    machine: cinnabar
    flake: "{{ playbook_dir }}/.."
    target_host: >-
      {{ ansible_user | default('root') }}@{{ ('[' ~ ansible_host ~ ']') if ':' in ansible_host else ansible_host
      }}{{ (':' ~ ansible_port) if ansible_port is defined else '' }}
  delegate_to: localhost

- name: Install a fresh VM, building locally
  fleet.migration.clan_machine:
    machine: testvm
    flake: "{{ fleet_flake }}"
    action: install
    target_host: root@testvm.fleet
    identity_file: ~/.ssh/id_ed25519
    update_hardware_config: nixos-facter
  delegate_to: localhost

- name: Update every NixOS host of phase 1, keeping what each one ended on
  fleet.migration.clan_machine:
    machine: "{{ inventory_hostname }}"
    flake: "{{ fleet_flake }}"
    target_host: "{{ fleet_deploy_target }}"  # the expression above, in inventory/group_vars/nixos.yml
  register: deploy
  delegate_to: localhost
  when: inventory_hostname in groups['phase1']

- name: Would an update change electrum? (builds, never switches)
  fleet.migration.clan_machine:
    machine: electrum
    flake: "{{ fleet_flake }}"
    target_host: root@electrum.fleet
  check_mode: true
  register: electrum_plan
  delegate_to: localhost
"""

RETURN = r"""
changed:
  description: Whether the machine's system generation changed (in check mode, whether it would).
  returned: always
  type: bool
generation_before:
  description: Generation of the system profile before the run; null when the target had no NixOS system profile.
  returned: always
  type: int
  sample: 41
generation_after:
  description:
    - Generation of the system profile after the run (in check mode, the same as before).
    - After a failed switch, the generation the profile ended on, which may be the new one although it does not run.
  returned: always, when the target could be read after the run
  type: int
  sample: 42
profile_generation:
  description: The same as RV(generation_after), named for what it is.
  returned: always, when the target could be read after the run
  type: int
  sample: 42
system_before:
  description: Store path of the system profile before the run.
  returned: always
  type: str
  sample: /nix/store/0c3xqv8q7r5a1i1x1w1b3rj1n3d4f4hz-nixos-system-cinnabar-25.11
system_after:
  description: Store path of the system profile after the run; in check mode the path that was built.
  returned: always, when the target could be read after the run
  type: str
running_system_before:
  description: What C(/run/current-system) pointed at before the run; null when it did not exist.
  returned: always
  type: str
running_system:
  description: What C(/run/current-system) points at after the run (in check mode, before); the system the host runs.
  returned: always, when the target could be read after the run
  type: str
running_matches_profile:
  description: Whether RV(running_system) is the profile's system. False after a failed activation.
  returned: always, when the target could be read after the run
  type: bool
host_os:
  description: With O(action=install), what the probe found (C(uname), C(nixos), C(os_release_id)).
  returned: when action is install
  type: dict
  sample: {"uname": "Linux", "nixos": false, "os_release_id": "debian"}
probe_error:
  description: Why the probe did not show what the host runs (C(unreachable), C(timeout), C(hang), C(auth),
    C(host_key), C(remote_exit), C(unknown_output)).
  returned: when the probe failed
  type: str
missing_vars:
  description: Vars that C(clan vars check) reported missing (check mode only); an update would generate them.
  returned: check mode
  type: list
  elements: str
  sample: [openssh/ssh.id_ed25519]
cmd:
  description: The clan command that ran (secrets removed).
  returned: when a clan command ran
  type: str
stdout:
  description: Standard output of the clan command (secrets removed).
  returned: when a clan command ran
  type: str
stderr:
  description: Standard error of the clan command (secrets removed).
  returned: when a clan command ran
  type: str
"""

import time

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.fleet.migration.plugins.module_utils.module_like import ModuleLike
from ansible_collections.fleet.migration.plugins.module_utils import clan_cli
from ansible_collections.fleet.migration.plugins.module_utils.clan_cli import clan_argv
from ansible_collections.fleet.migration.plugins.module_utils.clan_cli_host import (
    SYSTEM_PROFILE,
    TARGET_HINT,
    ProbeError,
    TargetError,
    clan_target,
    is_installer,
    is_nixos,
    probe,
    runs_machine,
    ssh_argv,
)
from ansible_collections.fleet.migration.plugins.module_utils.runner import (
    CommandError,
    environment_args,
    fail_from_error,
    quote,
    runner_for,
)

ROLLBACK_PLAYBOOK = "playbooks/rollback-nixos.yml"


def read_state(module: ModuleLike, runner) -> dict:
    """The probe's view of the target (see clan_cli_host.probe); raises ProbeError."""
    return probe(module.params, runner, "read its system generation")


def wait_for_state(module: ModuleLike, runner) -> dict:
    """After install the target reboots: probe until it runs its new profile or reboot_timeout passes.

    The installer may still answer before it reboots, so an answer alone is not enough;
    after the deadline the last answer is returned and judged by the caller.
    """
    deadline = time.monotonic() + module.params["reboot_timeout"]
    while True:
        try:
            state = read_state(module, runner)
            if state["generation"] is not None and state["running"] == state["profile_path"]:
                return state
            if time.monotonic() >= deadline:
                return state
        except ProbeError:
            if time.monotonic() >= deadline:
                raise
        time.sleep(module.params["reboot_poll_interval"])


def record(result: dict, state: dict, when: str) -> None:
    """Put a probe's profile and running system into the result under the documented keys."""
    if when == "before":
        result.update(generation_before=state["generation"], system_before=state["profile_path"],
                      running_system_before=state["running"])
        return
    result.update(generation_after=state["generation"], system_after=state["profile_path"],
                  profile_generation=state["generation"], running_system=state["running"],
                  running_matches_profile=bool(state["running"]) and state["running"] == state["profile_path"])


def install_refusal(params: dict, state: dict) -> str | None:
    """Why install must not run on this host, or None when the probe shows it is safe (or force says so).

    Safe means: a Linux host with no sign of NixOS, or the NixOS installer image.
    """
    machine, target = params["machine"], params["target_host"]
    shown = state["running"] or state["profile_path"]
    if not is_nixos(state):
        if state["uname"] != "Linux":
            return ("machine %s: install refused: expected %s to be a Linux host without NixOS; found `uname -s` "
                    "printing %r. clan installs NixOS on Linux only: check target_host"
                    % (machine, target, state["uname"] or "nothing"))
        if not state["os_id"]:
            # No NixOS marker is not proof of no NixOS: a host whose distribution we cannot name is refused.
            return ("machine %s: install refused: expected %s to name its Linux distribution in /etc/os-release "
                    "(ID=debian, for example) and show no NixOS; found no readable os-release ID, so the probe "
                    "cannot show that the host runs no NixOS. Installing formats its disks: check the host by hand "
                    "(`cat /etc/os-release`) and whether target_host names the right machine"
                    % (machine, target))
        return None
    if is_installer(shown) or runs_machine(machine, shown) or params["force"]:
        return None  # this machine's own NixOS is skipped, not refused (see run_module)
    found = ("running %s (system profile generation %s)" % (state["running"], state["generation"])
             if state["running"] else "NixOS (/etc/NIXOS or os-release ID=nixos) but no /run/current-system")
    return ("machine %s: install refused: expected %s to run no NixOS, or the NixOS installer image "
            "(nixos-system-nixos-*); found %s. Installing formats its disks. To change an installed %s use "
            "action: update; if this host is meant to be wiped and become %s, pass force: true"
            % (machine, target, found, machine, machine))


def shown(running: str | None) -> str:
    return running or "nothing (no /run/current-system)"


def after_failure(module: ModuleLike, runner, result: dict) -> str:
    """After a failed clan run: read what the host ended on and say it, with what to do."""
    target = module.params["target_host"]
    try:
        state = read_state(module, runner)
    except ProbeError as error:
        return ("What the host runs now is unknown: %s. Check it by hand (`%s`) before rerunning, or run %s"
                % (error, quote(ssh_argv(module.params) + ["readlink /run/current-system %s" % SYSTEM_PROFILE]),
                   ROLLBACK_PLAYBOOK))
    record(result, state, "after")
    if (state["generation"], state["profile_path"], state["running"]) == \
            (result.get("generation_before"), result.get("system_before"), result.get("running_system_before")):
        return ("%s is unchanged: the profile is still at generation %s and the running system is %s. Fix the "
                "error and rerun" % (target, state["generation"], shown(state["running"])))
    return ("the profile of %s now points at generation %s (%s) while the running system is %s%s. Run %s to "
            "return to generation %s, or fix the error and rerun the deploy"
            % (target, state["generation"], state["profile_path"], shown(state["running"]),
               "" if result["running_matches_profile"] else " (not the profile's system)", ROLLBACK_PLAYBOOK,
               result.get("generation_before")))


def update_argv(params: dict) -> list[str]:
    argv = clan_argv(params, ["machines", "update", params["machine"]])
    argv += ["--target-host", clan_target(params["machine"], params["target_host"])]
    if params["build_host"]:
        argv += ["--build-host", params["build_host"]]
    if params["host_key_check"]:
        argv += ["--host-key-check", params["host_key_check"]]
    return argv + list(params["nix_flags"])


def install_argv(params: dict) -> list[str]:
    argv = clan_argv(params, ["machines", "install", params["machine"]])
    argv += ["--target-host", clan_target(params["machine"], params["target_host"]), "--yes"]
    if params["host_key_check"]:
        argv += ["--host-key-check", params["host_key_check"]]
    if params["identity_file"]:
        argv += ["-i", params["identity_file"]]
    if params["update_hardware_config"]:
        argv += ["--update-hardware-config", params["update_hardware_config"]]
    return argv + list(params["nix_flags"])


def missing_vars(module: ModuleLike, runner) -> list[str]:
    machine = module.params["machine"]
    return clan_cli.missing_vars(runner, clan_argv(module.params, ["vars", "check", machine]),
                                 hint="run `clan vars check %s` by hand to see why it fails" % machine)


def plan(module: ModuleLike, runner, before: dict, result: dict) -> None:
    """Check mode: build without switching and compare with the system the host runs."""
    params = module.params
    record(result, before, "after")
    missing = missing_vars(module, runner)
    result["missing_vars"] = missing
    if missing:
        # Building would run the generators and write vars into the flake: not a dry run any more.
        result["changed"] = True
        result["msg"] = ("machine %s: vars are missing (%s); an update would generate them, so the build was skipped. "
                         "Run the play without check mode or `clan vars generate %s` first"
                         % (params["machine"], ", ".join(missing), params["machine"]))
        return
    argv = clan_argv(params, ["machines", "build", params["machine"]]) + ["--no-link"]
    built = runner.run(argv, hint="fix the configuration of %s so that `clan machines build %s` succeeds"
                       % (params["machine"], params["machine"]))
    result.update(cmd=built.cmd, stdout=built.stdout, stderr=built.stderr)
    paths = [line.strip() for line in built.stdout.splitlines() if line.strip().startswith("/nix/store/")]
    if not paths:
        raise CommandError("bad_output", built.argv, built.rc, built.stdout, built.stderr,
                           "check that the clan CLI version prints the built store path",
                           detail="expected a /nix/store path on stdout, found none")
    result["system_after"] = paths[-1]
    # A profile set by a switch whose activation failed does not count: what runs is what matters.
    result["changed"] = paths[-1] != (before["running"] or before["profile_path"])


def run_clan(module: ModuleLike, runner, before: dict, result: dict) -> None:
    """Run clan install or update, then read what the host runs and fail unless it runs the profile."""
    params = module.params
    machine, action, target = params["machine"], params["action"], params["target_host"]
    argv = install_argv(params) if action == "install" else update_argv(params)
    try:
        ran = runner.run(argv, hint="read clan's error above; `clan machines %s %s` by hand shows the same"
                         % (action, machine))
    except CommandError as error:
        state = after_failure(module, runner, result)
        raise CommandError(error.kind, error.argv, error.rc, error.stdout, error.stderr,
                           "%s. %s" % (error.hint, state), error.detail) from None
    result.update(cmd=ran.cmd, stdout=ran.stdout, stderr=ran.stderr)
    after = wait_for_state(module, runner) if action == "install" else read_state(module, runner)
    record(result, after, "after")
    if after["generation"] is None:
        module.fail_json(msg="machine %s: clan %s succeeded but %s has no system profile at %s; check that the "
                             "target_host is the machine that was deployed"
                             % (machine, action, target, SYSTEM_PROFILE), **result)
    if not result["running_matches_profile"]:
        module.fail_json(msg="machine %s: clan %s succeeded but %s runs %s, not the profile's generation %s (%s); "
                             "expected /run/current-system to be the profile's system. Reboot the host or run %s, "
                             "then rerun" % (machine, action, target, shown(after["running"]), after["generation"],
                                             after["profile_path"], ROLLBACK_PLAYBOOK), **result)
    result["changed"] = (after["generation"], after["profile_path"], after["running"]) != \
        (before["generation"], before["profile_path"], before["running"])


ARGUMENT_SPEC = dict(
    machine=dict(type="str", required=True),
    flake=dict(type="str", default="."),
    action=dict(type="str", default="update", choices=["install", "update"]),
    target_host=dict(type="str"),
    build_host=dict(type="str"),
    nix_flags=dict(type="list", elements="str", default=[]),
    nix_options=dict(type="dict", default={}),
    host_key_check=dict(type="str", choices=["strict", "ask", "accept-new", "tofu", "none"]),
    identity_file=dict(type="path"),
    update_hardware_config=dict(type="str", choices=["none", "nixos-generate-config", "nixos-facter"]),
    force=dict(type="bool", default=False),
    reboot_timeout=dict(type="int", default=900),
    reboot_poll_interval=dict(type="int", default=10),
    clan_bin=dict(type="str", default="clan"),
    ssh_bin=dict(type="str", default="ssh"),
    ssh_options=dict(type="list", elements="str", default=["-o", "BatchMode=yes", "-o", "ConnectTimeout=10"]),
    timeout=dict(type="int", default=3600),
    **environment_args(),
)


def execute(module: ModuleLike) -> None:
    """The module's work; ``module`` is an AnsibleModule, or the action plugin's stand-in
    (plugins/plugin_utils/in_worker.py), which runs this in Ansible's worker on the controller."""
    params = module.params
    if not params["target_host"]:
        module.fail_json(msg="machine %s: target_host is required, the module reads the system generation from it; "
                             "found none; pass %s" % (params["machine"], TARGET_HINT))
    try:
        clan_target(params["machine"], params["target_host"])
    except TargetError as error:
        module.fail_json(msg=str(error), changed=False, machine=params["machine"], action=params["action"])
    runner = runner_for(module, env={"NO_COLOR": "1"})
    result = dict(changed=False, machine=params["machine"], action=params["action"])
    try:
        before = read_state(module, runner)
        record(result, before, "before")
        if params["action"] == "install":
            result["host_os"] = dict(uname=before["uname"], nixos=is_nixos(before), os_release_id=before["os_id"])
            refusal = install_refusal(params, before)
            if refusal:
                module.fail_json(msg=refusal, **result)
        if module.check_mode:
            plan(module, runner, before, result)
        elif params["action"] == "install" and not params["force"] and \
                runs_machine(params["machine"], before["running"] or before["profile_path"]):
            record(result, before, "after")
            result["msg"] = ("machine %s: %s already runs its NixOS (system generation %s); install was skipped "
                             "because it reformats the disks. Use action: update, or force: true to reinstall"
                             % (params["machine"], params["target_host"], before["generation"]))
        else:
            run_clan(module, runner, before, result)
    except ProbeError as error:
        module.fail_json(msg=str(error), **dict(result, **error.to_dict()))
    except CommandError as error:
        fail_from_error(module, error, **result)
    if module._diff:
        result["diff"] = dict(
            before="generation: %s\nsystem: %s\nrunning: %s\n"
                   % (result["generation_before"], result["system_before"], result["running_system_before"]),
            after="generation: %s\nsystem: %s\nrunning: %s\n"
                  % (result.get("generation_after"), result.get("system_after"), result.get("running_system")),
        )
    module.exit_json(**result)


def main() -> None:
    execute(AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True))


if __name__ == "__main__":
    main()
