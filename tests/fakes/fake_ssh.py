"""Contract fake of OpenSSH's `ssh` running a small POSIX shell command on a fake host.

Upstream behaviour reproduced:
  OpenSSH ssh(1): exit status 255 when ssh itself fails (connection refused or
    timed out, authentication, host key), the remote command's status otherwise.
    Messages as OpenSSH prints them: "ssh: connect to host H port P: Connection
    refused" / "... Connection timed out" (sshconnect.c), "user@host: Permission
    denied (publickey)." (sshconnect2.c), the "REMOTE HOST IDENTIFICATION HAS
    CHANGED!" banner then "Host key verification failed." (sshconnect.c).
    The destination is `[user@]hostname` taken verbatim (ssh.c main): a bracketed
    `[2001:db8::1]` is not an address there, so it fails to resolve ("ssh: Could not
    resolve hostname H: Name or service not known", ssh.c resolve_host), exit 255.
  POSIX sh: `;`, `&&` and `||` (left to right, equal precedence), "sh: 1: X: not
    found" with status 127 for an unknown command (dash's wording).
  coreutils readlink(1): exit 1, no output, for a path that is not a symlink;
    `readlink -f` follows the links. test(1) -e, cat(1) (exit 1 with "No such file
    or directory"), uname(1) -s, echo(1).
Only those commands exist on a fake host. The host's filesystem is
$FAKE_CLAN_STATE/hosts/<host>/ (the tree fake_clan installs and switches);
`uname -s` prints hosts/<host>/uname when present, else Linux.

Faults, for the module's probe to meet every outcome ($FAKE_CLAN_STATE):
  unreachable               host names whose connection is refused
  hosts/<host>/rebooting    connections still refused after an install
  hosts/<host> a dangling link  the machine behind the name is gone: the connection times out
  hosts/<host>/ssh_fault    one of: refused, timeout (ConnectTimeout expired),
                            hang (never answers; the caller's timeout must stop it),
                            auth, hostkey, banner (a login banner before the output),
                            garbage (a remote shell that prints something else),
                            exit:N (the remote shell exits N: "sh: 1: readlink: not found")
"""
from __future__ import annotations

import os
import shlex
import sys
import time
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _state import host_name, host_root, log_call, state_dir, unreachable  # noqa: E402

CONNECT_ERROR = 255


def parse(argv: list[str]) -> tuple[str, str, str]:
    """(destination, port, remote command) from ssh's argv."""
    i, port = 0, "22"
    while i < len(argv):
        arg = argv[i]
        if arg in ("-o", "-p", "-i", "-l", "-F", "-J"):
            if arg == "-p" and i + 1 < len(argv):
                port = argv[i + 1]
            i += 2
            continue
        if arg.startswith("-") and arg != "--":
            i += 1
            continue
        if arg == "--":
            i += 1
        break
    if i >= len(argv):
        sys.stderr.write("usage: ssh [-46AaCfGgKkMNnqsTtVvXxYy] destination [command [argument ...]]\n")
        sys.exit(CONNECT_ERROR)
    return argv[i], port, " ".join(argv[i + 1:])


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


def run_simple(root: Path, words: list[str], out: list[str]) -> int:
    """One simple command on the fake host; appends its stdout to ``out``."""
    name, args = words[0], words[1:]
    if name == "echo":
        out.append(" ".join(args) + "\n")
        return 0
    if name == "readlink":
        value = readlink(root, args[-1], "-f" in args)
        if value is None:
            return 1
        out.append(value + "\n")
        return 0
    if name in ("test", "[") and len(args) >= 2 and args[0] in ("-e", "-L"):
        local = root / args[1].lstrip("/")
        return 0 if (local.is_symlink() if args[0] == "-L" else (local.exists() or local.is_symlink())) else 1
    if name == "cat" and args:
        local = root / args[0].lstrip("/")
        if not local.is_file():
            sys.stderr.write("cat: %s: No such file or directory\n" % args[0])
            return 1
        out.append(local.read_text())
        return 0
    if name == "uname":
        uname = root / "uname"
        out.append((uname.read_text().strip() if uname.exists() else "Linux") + "\n")
        return 0
    sys.stderr.write("sh: 1: %s: not found\n" % name)
    return 127


def run_shell(root: Path, command: str, out: list[str]) -> int:
    """`;`, `&&`, `||` over simple commands, as sh evaluates them (no quoting of the operators)."""
    status = 0
    for sequence in command.split(";"):
        lexer = shlex.shlex(sequence, posix=True, punctuation_chars="&|")
        lexer.whitespace_split = True
        tokens = list(lexer)
        if not tokens:
            continue
        status, operator, words = 0, None, []
        for token in tokens + ["&&"]:
            if token not in ("&&", "||"):
                words.append(token)
                continue
            if words and (operator is None or (operator == "&&") == (status == 0)):
                status = run_simple(root, words, out)
            operator, words = token, []
    return status


def fault(state: Path, host: str, user: str, port: str) -> int | None:
    """Apply the host's ssh fault; returns ssh's exit status, or None to run the command."""
    root = host_root(state, host)
    name = host_name(host)
    if unreachable(state, host):
        sys.stderr.write("ssh: connect to host %s port %s: Connection refused\n" % (name, port))
        return CONNECT_ERROR
    if root.is_symlink() and not root.exists():
        # The name still points at a machine that is gone (a deleted cloud instance, see fake_tofu.py's
        # machines/): nothing answers at that address, so the connection times out.
        sys.stderr.write("ssh: connect to host %s port %s: Connection timed out\n" % (name, port))
        return CONNECT_ERROR
    rebooting = root / "rebooting"
    if rebooting.exists() and int(rebooting.read_text() or 0) > 0:
        rebooting.write_text(str(int(rebooting.read_text()) - 1))
        sys.stderr.write("ssh: connect to host %s port %s: Connection refused\n" % (name, port))
        return CONNECT_ERROR
    mode = (root / "ssh_fault").read_text().strip() if (root / "ssh_fault").exists() else ""
    if mode == "refused":
        sys.stderr.write("ssh: connect to host %s port %s: Connection refused\n" % (name, port))
        return CONNECT_ERROR
    if mode == "timeout":
        sys.stderr.write("ssh: connect to host %s port %s: Connection timed out\n" % (name, port))
        return CONNECT_ERROR
    if mode == "hang":
        time.sleep(3600)
        return CONNECT_ERROR
    if mode == "auth":
        sys.stderr.write("%s@%s: Permission denied (publickey).\n" % (user, name))
        return CONNECT_ERROR
    if mode == "hostkey":
        sys.stderr.write(
            "@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@\n"
            "@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @\n"
            "@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@\n"
            "IT IS POSSIBLE THAT SOMEONE IS DOING SOMETHING NASTY!\n"
            "Host key for %s has changed and you have requested strict checking.\n"
            "Host key verification failed.\n" % name)
        return CONNECT_ERROR
    if mode == "garbage":
        sys.stdout.write("This account is currently not available.\n")
        return 0
    if mode.startswith("exit:"):
        sys.stderr.write("sh: 1: readlink: not found\n")
        return int(mode.split(":", 1)[1])
    return None


def main() -> int:
    state = state_dir("FAKE_CLAN_STATE")
    log_call(state, ["ssh"] + sys.argv[1:])
    host, port, command = parse(sys.argv[1:])
    user = host.rsplit("@", 1)[0] if "@" in host else os.environ.get("USER", "root")
    hostname = host.rsplit("@", 1)[-1]
    if hostname.startswith("["):
        # ssh(1) takes `[user@]hostname` verbatim (ssh.c main); brackets are only URI syntax (ssh://[v6]:port),
        # so `[2001:db8::1]` is looked up as a name and fails (ssh.c resolve_host).
        sys.stderr.write("ssh: Could not resolve hostname %s: Name or service not known\n" % hostname)
        return CONNECT_ERROR
    status = fault(state, host, user, port)
    if status is not None:
        return status
    root = host_root(state, host)
    out: list[str] = []
    if (root / "ssh_fault").exists() and (root / "ssh_fault").read_text().strip() == "banner":
        out.append("Welcome to web! Unauthorised access is prohibited.\n")
    status = run_shell(root, command, out)
    sys.stdout.write("".join(out))
    return status


if __name__ == "__main__":
    sys.exit(main())
