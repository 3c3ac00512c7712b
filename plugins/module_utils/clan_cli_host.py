# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Copyright: Fleet migration control plane maintainers
"""What a clan target host runs, read over ssh in one probe: its OS, its system
profile and the system it actually runs (/run/current-system).

Why one probe with markers: `clan machines install` formats the disks, so it may
run only when the probe shows POSITIVELY that the host runs no installed NixOS.
Every other outcome -- ssh refused, timed out or hung, authentication or host
key failure, a remote shell that failed or printed something else -- is a
ProbeError naming the host, what was expected, what was found and what to do.
Deploy evidence reads the same probe: after a switch the profile and the running
system can differ (clan and darwin-rebuild set the profile before activating).
"""
from __future__ import annotations

import re
import shlex

from ansible_collections.fleet.migration.plugins.module_utils.clan_inventory import TARGET_FORM, split_target
from ansible_collections.fleet.migration.plugins.module_utils.runner import CommandError, quote

SYSTEM_PROFILE = "/nix/var/nix/profiles/system"
CURRENT_SYSTEM = "/run/current-system"
SSH_CONNECTION_ERROR = 255
PROBE_TIMEOUT = 120

# Sections are marked so that output we did not ask for (a shell rc file that
# prints, a shell that is not POSIX) can never be read as "no NixOS here".
# `readlink P && readlink -f P`: GNU readlink -f prints a path even when P does not exist.
PROBE = "; ".join([
    "echo @fleet-probe",
    "echo @uname", "uname -s",
    "echo @nixos", "test -e /etc/NIXOS && echo yes || echo no",
    "echo @os-release", "cat /etc/os-release",
    "echo @profile", "readlink %s && readlink -f %s" % (SYSTEM_PROFILE, SYSTEM_PROFILE),
    "echo @running", "readlink %s" % CURRENT_SYSTEM,
    "echo @end",
])
SECTION = re.compile(r"^@([a-z-]+)$")


class ProbeError(Exception):
    """The probe did not show what the host runs; ``reason`` is a short kind, the message says what to do."""

    def __init__(self, reason: str, message: str, result=None) -> None:
        super().__init__(message)
        self.reason = reason
        self.result = result

    def to_dict(self) -> dict:
        extra = {"probe_error": self.reason}
        if self.result is not None:
            extra.update(cmd=self.result.cmd, rc=self.result.rc, stdout=self.result.stdout,
                         stderr=self.result.stderr)
        return extra


# clan_lib/ssh/remote.py `_parse_ssh_uri`: an address without `user@` is root's.
CLAN_DEFAULT_USER = "root"
# What to pass as target_host, for messages: the plugin's variables put together the way clan reads them.
TARGET_HINT = ("clan's address of the machine (its deploy.targetHost), which the clan inventory plugin's variables "
               "give as ansible_user@ansible_host[:ansible_port] with an IPv6 ansible_host in brackets (this fleet: "
               "\"{{ fleet_deploy_target }}\", inventory/group_vars/nixos.yml)")
DEFAULT_SSH_PORT = 22


class TargetError(ValueError):
    """target_host is not an address clan and ssh can both use."""


def parse_target(machine: str, target) -> dict:
    """``{user, host, port, options}`` of a clan address, read as the inventory plugin reads deploy.targetHost.

    ``[ssh://][user@]host[:port][?Option=value&...]``; an IPv6 host in brackets (with or without a port)
    or bare. Raises TargetError naming the machine, the form, what was found and what to do.
    """
    split = split_target(target) if isinstance(target, str) and target.strip() else "it is empty"
    if isinstance(split, str):
        raise TargetError(
            "machine %s: target_host expected the form %s, found %r (%s); pass %s"
            % (machine, TARGET_FORM, target, split, TARGET_HINT))
    user, host, port, options = split
    return {"user": user, "host": host, "port": port, "options": options}


def _is_ipv6(host: str) -> bool:
    return ":" in host


def clan_target(machine: str, target: str) -> str:
    """The address for ``clan --target-host``: ``[user@]host[:port][?Option=value&...]`` with an IPv6 host
    always in brackets, because clan refuses a bare one ("IPv6 addresses must be enclosed in brackets",
    clan_lib/ssh/remote.py `_parse_ssh_uri`)."""
    parts = parse_target(machine, target)
    host = "[%s]" % parts["host"] if _is_ipv6(parts["host"]) else parts["host"]
    address = ("%s@" % parts["user"] if parts["user"] else "") + host
    if parts["port"]:
        address += ":%d" % parts["port"]
    if parts["options"]:
        address += "?" + "&".join("%s=%s" % option for option in parts["options"])
    return address


def ssh_argv(params: dict) -> list[str]:
    """ssh argv reaching the host clan deploys to, the way clan's own ssh calls do (clan_lib/ssh/remote.py
    `ssh_cmd`/`_ssh_cmd_opts`): ``-p PORT``, ``-o Option=value`` for the address's options, and
    ``user@host`` with the host bare (ssh(1) takes ``[user@]hostname``, so no brackets and no port), the
    user root when the address names none."""
    parts = parse_target(params["machine"], params["target_host"])
    argv = [params["ssh_bin"]] + list(params["ssh_options"])
    if parts["port"]:
        argv += ["-p", str(parts["port"])]
    for option in parts["options"]:
        argv += ["-o", "%s=%s" % option]
    return argv + ["%s@%s" % (parts["user"] or CLAN_DEFAULT_USER, parts["host"])]


def known_hosts_name(machine: str, target: str) -> str:
    """The host's name in known_hosts (what `ssh-keygen -R` takes): ``host``, or ``[host]:port`` off port 22."""
    parts = parse_target(machine, target)
    if parts["port"] and parts["port"] != DEFAULT_SSH_PORT:
        return "[%s]:%s" % (parts["host"], parts["port"])
    return parts["host"]


def _ssh_failure(stderr: str, target: str, host: str) -> tuple[str, str, str]:
    """(reason, what was found, what to do) for ssh's own exit 255, from OpenSSH's messages."""
    last = (stderr.strip().splitlines() or ["no message"])[-1]
    if "Permission denied" in stderr:
        return ("auth", "ssh authentication failed (%s)" % last,
                "load the key %s accepts into the ssh agent or pass it with ssh_options [-i, KEY] "
                "(identity_file for install), then rerun" % target)
    if "Host key verification failed" in stderr or "REMOTE HOST IDENTIFICATION HAS CHANGED" in stderr:
        return ("host_key", "its host key does not match known_hosts (%s)" % last,
                "find out why the key changed. If %s was reinstalled on purpose, compare the new fingerprint out "
                "of band, run `ssh-keygen -R %s` and rerun; otherwise stop, the address may reach another machine"
                % (host, shlex.quote(host)))
    if "timed out" in stderr:
        return ("timeout", "the ssh connection timed out (%s)" % last,
                "make %s reachable over SSH from the controller (host up, port open, right address) "
                "or correct target_host" % target)
    return ("unreachable", "ssh could not connect (%s)" % last,
            "make %s reachable over SSH from the controller (key loaded, host up, port open) "
            "or correct target_host" % target)


def parse_probe(stdout: str) -> dict | None:
    """Sections of the probe's output; None unless both the opening and the closing marker were printed."""
    sections: dict[str, list[str]] = {}
    current = None
    for line in stdout.splitlines():
        match = SECTION.match(line.strip())
        if match:
            current = match.group(1)
            sections[current] = []
        elif current is not None and line.strip():
            sections[current].append(line.strip())
    if "fleet-probe" not in sections or "end" not in sections:
        return None
    return sections


def probe(params: dict, runner, what: str) -> dict:
    """Run the probe on params["target_host"]; raise ProbeError unless it shows what the host runs.

    ``what`` completes "machine M: could not ..." in messages (e.g. "read its system generation").
    Returns uname, nixos (bool), os_id, generation, profile_path and running.
    """
    machine, target = params["machine"], params["target_host"]
    argv = ssh_argv(params) + [PROBE]
    head = "machine %s: could not %s from %s: expected ssh to run the probe and print its report; found " \
        % (machine, what, target)
    try:
        result = runner.run(argv, check=False, timeout=min(PROBE_TIMEOUT, params.get("timeout") or PROBE_TIMEOUT))
    except CommandError as error:
        if error.kind == "timeout":
            raise ProbeError("hang", head + "no answer within %s seconds (`%s` was stopped). What to do: find out "
                             "why ssh hangs (a password or passphrase prompt? keep BatchMode=yes in ssh_options), "
                             "then rerun" % (error.detail, error.cmd)) from error
        raise ProbeError(error.kind, head + str(error)) from error
    if result.rc == SSH_CONNECTION_ERROR:
        reason, found, todo = _ssh_failure(result.stderr, target, known_hosts_name(machine, target))
        raise ProbeError(reason, head + found + ". What to do: " + todo, result)
    if result.rc != 0:
        raise ProbeError("remote_exit", head + "the remote shell exited %d (%s). What to do: the probe needs a "
                         "POSIX shell with echo, uname, test, cat and readlink; log in and run it by hand: `%s`"
                         % (result.rc, (result.stderr.strip().splitlines() or ["no message"])[-1],
                            quote(argv)), result)
    sections = parse_probe(result.stdout)
    if sections is None:
        raise ProbeError("unknown_output", head + "output without the probe's markers (%r). What to do: check "
                         "that %s's login shell runs POSIX sh commands and that the account may log in; run `%s` "
                         "by hand" % (result.stdout.strip()[:200], target, quote(argv)), result)
    os_release = dict(line.split("=", 1) for line in sections.get("os-release", []) if "=" in line)
    profile = sections.get("profile", [])
    match = re.search(r"-(\d+)-link$", profile[0]) if len(profile) >= 2 else None
    running = sections.get("running") or [None]
    return dict(
        uname=(sections.get("uname") or [""])[0],
        nixos=(sections.get("nixos") or [""])[0] == "yes",
        os_id=os_release.get("ID", "").strip("\"'"),
        generation=int(match.group(1)) if match else None,
        profile_path=profile[1] if len(profile) >= 2 else None,
        running=running[0],
    )


def is_nixos(seen: dict) -> bool:
    """Any sign of NixOS: /etc/NIXOS, os-release ID=nixos, or a NixOS system profile or running system."""
    return seen["nixos"] or seen["os_id"] == "nixos" or any(
        "-nixos-system-" in (seen[key] or "") for key in ("running", "profile_path"))


def runs_machine(machine: str, system: str | None) -> bool:
    """Whether a system store path is this machine's NixOS, not an installer or another host.

    A NixOS toplevel is named nixos-system-<system.name>-<version>, and clan sets the
    host name to the machine name.
    """
    return bool(system) and ("-nixos-system-%s-" % machine) in system


def is_installer(system: str | None) -> bool:
    """The NixOS installer images (ISO, kexec, clan's installer) keep the default host name `nixos`."""
    return bool(system) and "-nixos-system-nixos-" in system
