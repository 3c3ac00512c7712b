"""Contract fake of OpenSSH's `ssh` for reading a NixOS system profile.

Upstream: OpenSSH ssh(1) (exit status 255 on connection errors, the remote
command's status otherwise) and coreutils readlink(1) (exit 1, no output, for
a path that is not a symlink). Only what fleet.migration.clan_machine sends is
supported: `ssh [-o opt]... [-p port] [-i file] [-l user] [-T] HOST
'readlink P && readlink -f P'`. The host's filesystem is
$FAKE_CLAN_STATE/hosts/<host>/ (the same tree fake_clan switches).
"""
from __future__ import annotations

import os
import shlex
import sys
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _state import host_name, host_root, log_call, state_dir, unreachable  # noqa: E402


def parse(argv: list[str]) -> tuple[str, str]:
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg in ("-o", "-p", "-i", "-l", "-F", "-J"):
            i += 2
            continue
        if arg.startswith("-") and arg != "--":
            i += 1
            continue
        if arg == "--":
            i += 1
            continue
        break
    if i >= len(argv):
        sys.stderr.write("usage: ssh [-46AaCfGgKkMNnqsTtVvXxYy] destination [command [argument ...]]\n")
        sys.exit(255)
    return argv[i], " ".join(argv[i + 1:])


def readlink(root: Path, path: str, follow: bool) -> str | None:
    local = root / path.lstrip("/")
    if not local.is_symlink():
        return None
    target = os.readlink(local)
    if not follow:
        return target
    # Follow links that stay inside the host's tree; a /nix/store target is final.
    while not target.startswith("/nix/store/"):
        local = local.parent / target
        if not local.is_symlink():
            break
        target = os.readlink(local)
    return target


def main() -> int:
    state = state_dir("FAKE_CLAN_STATE")
    log_call(state, ["ssh"] + sys.argv[1:])
    host, command = parse(sys.argv[1:])
    if unreachable(state, host):
        sys.stderr.write("ssh: connect to host %s port 22: Connection refused\n" % host_name(host))
        return 255
    root = host_root(state, host)
    rebooting = root / "rebooting"
    if rebooting.exists() and int(rebooting.read_text() or 0) > 0:
        rebooting.write_text(str(int(rebooting.read_text()) - 1))
        sys.stderr.write("ssh: connect to host %s port 22: Connection refused\n" % host_name(host))
        return 255
    for part in command.split("&&"):
        words = shlex.split(part)
        if not words or words[0] != "readlink":
            sys.stderr.write("fake ssh: unsupported remote command %r\n" % part)
            return 127
        follow = "-f" in words
        value = readlink(root, words[-1], follow)
        if value is None:
            return 1
        sys.stdout.write(value + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
