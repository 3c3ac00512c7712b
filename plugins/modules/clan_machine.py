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
  - Reads the target's system profile (C(/nix/var/nix/profiles/system)) over SSH before and after, so
    C(changed) means the machine's system generation changed; a second run with the same configuration reports no change.
  - In check mode the module never switches anything. It runs C(clan vars check) and, when every var exists,
    C(clan machines build) (evaluate and build only), then reports whether the built system differs from the running one.
  - C(install) formats the target's disks. On a target that already runs this machine's NixOS system
    (C(nixos-system-<machine>-*)) it does nothing unless O(force=true); use O(action=update) for installed machines.
    An installer image (C(nixos-system-nixos-*)) or a host without a system profile is installed.
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
      - SSH address of the machine, C(user@host) or C(user@host:port), passed to clan as C(--target-host).
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
    description: Run C(install) even when the target already runs this machine's NixOS system (this reformats its disks).
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
    description: The ssh executable used to read the system profile.
    type: str
    default: ssh
  ssh_options:
    description: Options for the ssh call that reads the system profile.
    type: list
    elements: str
    default: ["-o", "BatchMode=yes", "-o", "ConnectTimeout=10"]
  timeout:
    description: Seconds after which a command is stopped and the module fails.
    type: int
    default: 3600
extends_documentation_fragment:
  - fleet.migration.command_environment
notes:
  - Supports check mode and diff mode. The diff shows the generation and system store path before and after.
seealso:
  - name: clan machines update
    description: Upstream command reference.
    link: https://docs.clan.lol/reference/cli/machines/
"""

EXAMPLES = r"""
- name: Update cinnabar from the fleet flake
  fleet.migration.clan_machine:
    machine: cinnabar
    flake: "{{ playbook_dir }}/.."
    target_host: "{{ ansible_user }}@{{ ansible_host }}"
  delegate_to: localhost

- name: Install a fresh VM, building locally
  fleet.migration.clan_machine:
    machine: testvm
    action: install
    target_host: root@testvm.fleet
    identity_file: ~/.ssh/id_ed25519
    update_hardware_config: nixos-facter
  delegate_to: localhost

- name: Would an update change electrum? (builds, never switches)
  fleet.migration.clan_machine:
    machine: electrum
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
  description: System generation number before the run; null when the target had no NixOS system profile.
  returned: always
  type: int
  sample: 41
generation_after:
  description: System generation number after the run (in check mode, the same as before).
  returned: always
  type: int
  sample: 42
system_before:
  description: Store path of the running system before the run.
  returned: always
  type: str
  sample: /nix/store/0c3xqv8q7r5a1i1x1w1b3rj1n3d4f4hz-nixos-system-cinnabar-25.11
system_after:
  description: Store path of the system after the run; in check mode the path that was built.
  returned: always
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

import re
import time

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.fleet.migration.plugins.module_utils import clan_cli
from ansible_collections.fleet.migration.plugins.module_utils.clan_cli import clan_argv
from ansible_collections.fleet.migration.plugins.module_utils.runner import (
    CommandError,
    environment_args,
    fail_from_error,
    runner_for,
)

SYSTEM_PROFILE = "/nix/var/nix/profiles/system"
SSH_CONNECTION_ERROR = 255


def ssh_argv(params: dict) -> list[str]:
    """ssh argv for the target; clan's `user@host:port` form becomes `-p port user@host`."""
    address = params["target_host"]
    argv = [params["ssh_bin"]] + list(params["ssh_options"])
    user_host, sep, port = address.rpartition(":")
    if sep and port.isdigit() and "]" not in port:
        argv += ["-p", port]
        address = user_host
    return argv + [address]


def read_generation(module: AnsibleModule, runner) -> tuple[int | None, str | None]:
    """(generation number, store path) of the target's system profile; (None, None) when there is none."""
    command = "readlink %s && readlink -f %s" % (SYSTEM_PROFILE, SYSTEM_PROFILE)
    result = runner.run(ssh_argv(module.params) + [command], check=False, timeout=120)
    if result.rc == SSH_CONNECTION_ERROR:
        raise CommandError(
            "exit", result.argv, result.rc, result.stdout, result.stderr,
            "make %s reachable over SSH from the controller (key loaded, host up, port open) "
            "or correct target_host" % module.params["target_host"],
            detail="machine %s: could not read its system generation" % module.params["machine"])
    lines = result.stdout.split()
    if result.rc != 0 or len(lines) < 2:
        return None, None
    match = re.search(r"-(\d+)-link$", lines[0])
    return (int(match.group(1)) if match else None), lines[1]


def runs_machine(machine: str, system: str | None) -> bool:
    """Whether the running system is this machine's NixOS, not an installer or another host.

    A NixOS toplevel is named nixos-system-<system.name>-<version>, and clan sets the
    host name to the machine name. An installer (kexec image) runs nixos-system-nixos-...
    """
    return bool(system) and ("-nixos-system-%s-" % machine) in system


def wait_for_generation(module: AnsibleModule, runner) -> tuple[int | None, str | None]:
    """After install the target reboots: poll until ssh answers or reboot_timeout passes."""
    deadline = time.monotonic() + module.params["reboot_timeout"]
    while True:
        try:
            return read_generation(module, runner)
        except CommandError:
            if time.monotonic() >= deadline:
                raise
            time.sleep(module.params["reboot_poll_interval"])


def update_argv(params: dict) -> list[str]:
    argv = clan_argv(params, ["machines", "update", params["machine"]])
    argv += ["--target-host", params["target_host"]]
    if params["build_host"]:
        argv += ["--build-host", params["build_host"]]
    if params["host_key_check"]:
        argv += ["--host-key-check", params["host_key_check"]]
    return argv + list(params["nix_flags"])


def install_argv(params: dict) -> list[str]:
    argv = clan_argv(params, ["machines", "install", params["machine"]])
    argv += ["--target-host", params["target_host"], "--yes"]
    if params["host_key_check"]:
        argv += ["--host-key-check", params["host_key_check"]]
    if params["identity_file"]:
        argv += ["-i", params["identity_file"]]
    if params["update_hardware_config"]:
        argv += ["--update-hardware-config", params["update_hardware_config"]]
    return argv + list(params["nix_flags"])


def missing_vars(module: AnsibleModule, runner) -> list[str]:
    machine = module.params["machine"]
    return clan_cli.missing_vars(runner, clan_argv(module.params, ["vars", "check", machine]),
                                 hint="run `clan vars check %s` by hand to see why it fails" % machine)


def plan(module: AnsibleModule, runner, before: tuple, result: dict) -> None:
    """Check mode: build without switching and compare with the running system."""
    params = module.params
    result["generation_after"], result["system_after"] = before
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
    result["changed"] = paths[-1] != before[1]


def run_module() -> None:
    module = AnsibleModule(
        argument_spec=dict(
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
        ),
        supports_check_mode=True,
    )
    params = module.params
    if not params["target_host"]:
        module.fail_json(msg="machine %s: target_host is required, the module reads the system generation from it; "
                             "pass target_host: \"{{ ansible_user }}@{{ ansible_host }}\" (the clan inventory plugin "
                             "sets both from deploy.targetHost)" % params["machine"])
    runner = runner_for(module, env={"NO_COLOR": "1"})
    result = dict(changed=False, machine=params["machine"], action=params["action"])
    try:
        before = read_generation(module, runner)
        result["generation_before"], result["system_before"] = before
        if module.check_mode:
            plan(module, runner, before, result)
        elif params["action"] == "install" and runs_machine(params["machine"], before[1]) and not params["force"]:
            result["generation_after"], result["system_after"] = before
            result["msg"] = ("machine %s: %s already runs its NixOS (system generation %s); install was skipped because it "
                             "reformats the disks. Use action: update, or force: true to reinstall"
                             % (params["machine"], params["target_host"], before[0]))
        else:
            argv = install_argv(params) if params["action"] == "install" else update_argv(params)
            hint = ("read clan's error above; `clan machines %s %s` by hand shows the same. A failed switch leaves the "
                    "previous generation running" % (params["action"], params["machine"]))
            ran = runner.run(argv, hint=hint)
            result.update(cmd=ran.cmd, stdout=ran.stdout, stderr=ran.stderr)
            after = wait_for_generation(module, runner) if params["action"] == "install" \
                else read_generation(module, runner)
            result["generation_after"], result["system_after"] = after
            if after[0] is None:
                module.fail_json(msg="machine %s: clan %s succeeded but %s has no system profile at %s; check that the "
                                     "target_host is the machine that was deployed"
                                     % (params["machine"], params["action"], params["target_host"], SYSTEM_PROFILE),
                                 **result)
            result["changed"] = after != before
    except CommandError as error:
        fail_from_error(module, error, **result)
    if module._diff:
        result["diff"] = dict(
            before="generation: %s\nsystem: %s\n" % (result["generation_before"], result["system_before"]),
            after="generation: %s\nsystem: %s\n" % (result.get("generation_after"), result.get("system_after")),
        )
    module.exit_json(**result)


def main() -> None:
    run_module()


if __name__ == "__main__":
    main()
