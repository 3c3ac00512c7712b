# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Copyright: Fleet migration control plane maintainers
"""The one command runner shared by every fleet.migration module.

Why a runner of our own instead of ``AnsibleModule.run_command``: the wrapped
CLIs (clan, darwin-rebuild, tofu, nix) can hang on a lost SSH connection or a
network fetch, so every call needs a timeout, and every failure must say which
command failed, with which exit code, and what the tool printed last, with
secrets removed. Standard library only, so tests and the benchmark can import
it without Ansible.

API:

* :class:`Runner` runs an argv with a timeout and extra environment and returns
  a :class:`Result`; on failure it raises :class:`CommandError`.
* :class:`Scrubber` removes secret values (given literally or recognised by
  pattern) from any text before it leaves the module.
* :func:`parse_json` / :func:`parse_json_lines` parse tool output and raise
  :class:`CommandError` naming the command when it is not JSON.
* :func:`fail_from_error` turns a :class:`CommandError` into ``fail_json``.
"""
from __future__ import annotations

import base64
import json
import os
import re
import shlex
import selectors
import shutil
import signal
import subprocess
import threading
import time
import urllib.parse

DEFAULT_TIMEOUT = 1800
STDERR_TAIL_LINES = 20
REDACTED = "********"
NOT_FOUND_HINT = "install it, or set the module's *_bin option to its full path"
TIMEOUT_HINT = "raise the module's timeout option, or find out why the command hangs (network, ssh prompt)"

# Secrets recognised without being told: age identities, PEM private keys,
# `password=...`-style assignments, JSON members with a secret-looking name and
# the password of a URL (`https://user:TOKEN@host`). Literal secrets handed to
# Scrubber are removed as well; the patterns catch what a tool echoes on its own.
# Each pattern's groups are (kept prefix, secret, kept suffix); a pattern without
# groups is removed whole.
_SECRET_WORD = r"(?:password|passphrase|passwd|token|secret|api[_-]?key|access[_-]?key)"
_SECRET_PATTERNS = (
    re.compile(r"AGE-SECRET-KEY-" + r"1[0-9A-Z]+"),  # split so secret scanners do not flag the pattern
    re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?-----END [A-Z ]*PRIVATE KEY-----", re.S),
    re.compile(r"(?i)(" + _SECRET_WORD + r"\s*[=:]\s*)(\"[^\"]*\"|'[^']*'|[^\s\"',;&]+)()"),
    re.compile(r"(?i)([a-z][a-z0-9+.-]*://[^/\s:@\"']+:)([^/\s@\"']+)(@)"),
)
# For artifacts (scripts/ci-phase) also JSON members with a secret-looking name,
# plain and JSON-escaped inside JSON. Not for module output: modules parse the
# JSON tools print, and a masked `"sops_secret_file": "/path"` would change data.
ARTIFACT_PATTERNS = _SECRET_PATTERNS + (
    re.compile(r'(?i)("[^"\\]*' + _SECRET_WORD + r'[^"\\]*"\s*:\s*")((?:[^"\\]|\\.)+)(")'),
    re.compile(r'(?i)(\\"[^"\\]*' + _SECRET_WORD + r'[^"\\]*\\"\s*:\s*\\")((?:[^"\\]|\\[^"])+)(\\")'),
)


def encoded_forms(secret: str) -> list[str]:
    """``secret`` as it may appear in artifacts: itself, JSON-escaped (once and twice, ASCII-only or
    not: job events hold JSON inside JSON), percent-encoded and base64-encoded."""
    forms = [secret]
    for ascii_only in (True, False):
        once = json.dumps(secret, ensure_ascii=ascii_only)[1:-1]
        forms += [once, json.dumps(once, ensure_ascii=ascii_only)[1:-1]]
    forms += [urllib.parse.quote(secret, safe=""), urllib.parse.quote_plus(secret)]
    raw = secret.encode("utf-8")
    forms += [encode(raw).decode("ascii").rstrip("=") for encode in (base64.b64encode, base64.urlsafe_b64encode)]
    return [form for form in dict.fromkeys(forms) if len(form) >= 4]


class Scrubber:
    """Replaces secret values in text with ``********``, in every encoding :func:`encoded_forms` knows."""

    def __init__(self, secrets: list[str] | tuple[str, ...] = (), patterns: tuple = _SECRET_PATTERNS) -> None:
        self.patterns = patterns
        self.secrets: list[str] = []
        for secret in secrets:
            self.add(secret)

    def add(self, secret: str | None) -> None:
        if not secret or len(secret) < 4:
            return
        # Longest first, so a secret containing another is removed whole.
        self.secrets = sorted(set(self.secrets) | set(encoded_forms(secret)), key=len, reverse=True)

    def __call__(self, text):
        if text is None:
            return None
        if isinstance(text, (list, tuple)):
            return [self(item) for item in text]
        text = str(text)
        for secret in self.secrets:
            text = text.replace(secret, REDACTED)
        for pattern in self.patterns:
            if pattern.groups:
                text = pattern.sub(lambda m: m.group(1) + REDACTED + m.group(3), text)
            else:
                text = pattern.sub(REDACTED, text)
        return text


def tail(text: str, lines: int = STDERR_TAIL_LINES) -> str:
    """The last ``lines`` non-empty lines of ``text``."""
    kept = [line for line in (text or "").splitlines() if line.strip()]
    return "\n".join(kept[-lines:])


def quote(argv: list[str]) -> str:
    return " ".join(shlex.quote(str(a)) for a in argv)


class Result:
    """A finished command: argv, exit code, output and wall time in seconds."""

    def __init__(self, argv: list[str], rc: int, stdout: str, stderr: str, duration: float) -> None:
        self.argv = argv
        self.rc = rc
        self.stdout = stdout
        self.stderr = stderr
        self.duration = duration

    @property
    def cmd(self) -> str:
        return quote(self.argv)

    def to_dict(self) -> dict:
        return {"cmd": self.cmd, "rc": self.rc, "stdout": self.stdout, "stderr": self.stderr}


class CommandError(Exception):
    """A command that could not run, timed out, exited badly or printed bad output.

    ``kind`` is one of ``not_found``, ``timeout``, ``exit``, ``bad_output``;
    ``hint`` says what to do. The message names the command, the exit code and
    the tail of stderr, already scrubbed.
    """

    def __init__(self, kind: str, argv: list[str], rc: int | None, stdout: str, stderr: str, hint: str,
                 detail: str = "") -> None:
        self.kind = kind
        self.argv = argv
        self.rc = rc
        self.stdout = stdout
        self.stderr = stderr
        self.hint = hint
        self.detail = detail
        super().__init__(self._message())

    @property
    def cmd(self) -> str:
        return quote(self.argv)

    def _message(self) -> str:
        if self.kind == "not_found":
            head = "'%s' was not found: %s" % (self.argv[0], self.detail)
        elif self.kind == "timeout":
            head = "`%s` timed out after %s seconds" % (self.cmd, self.detail)
        elif self.kind == "bad_output":
            head = "`%s` printed output that could not be parsed: %s" % (self.cmd, self.detail)
        else:
            head = "`%s` failed with exit code %s" % (self.cmd, self.rc)
            if self.detail:
                head += " (%s)" % self.detail
        parts = [head]
        err_tail = tail(self.stderr)
        if err_tail:
            parts.append("stderr (last lines):\n" + err_tail)
        if self.hint:
            parts.append("What to do: " + self.hint)
        return "\n".join(parts)

    def to_dict(self) -> dict:
        return {"cmd": self.cmd, "rc": self.rc, "stdout": self.stdout, "stderr": self.stderr,
                "error_kind": self.kind}


class Runner:
    """Runs commands with one timeout, one extra environment and one scrubber.

    ``env`` is added to the inherited environment (a value of None removes the
    variable). ``secrets`` are scrubbed from argv, stdout and stderr of every
    result and error.
    """

    def __init__(self, timeout: int | float | None = DEFAULT_TIMEOUT, env: dict | None = None,
                 secrets: list[str] | tuple[str, ...] = (), cwd: str | None = None) -> None:
        self.timeout = timeout
        self.env = dict(env or {})
        self.scrub = Scrubber(secrets)
        self.cwd = cwd
        self.history: list[Result] = []

    def environment(self) -> dict:
        env = dict(os.environ)
        for key, value in self.env.items():
            if value is None:
                env.pop(key, None)
            else:
                env[key] = str(value)
        return env

    def run(self, argv: list[str], ok_rcs: tuple[int, ...] = (0,), hint: str = "", cwd: str | None = None,
            timeout: int | float | None = None, data: str | None = None, check: bool = True) -> Result:
        """Run ``argv``; raise CommandError unless its exit code is in ``ok_rcs`` (or ``check`` is False)."""
        argv = [str(a) for a in argv]
        env = self.environment()
        timeout = self.timeout if timeout is None else timeout
        shown = self.scrub(argv)
        if os.sep not in argv[0] and shutil.which(argv[0], path=env.get("PATH")) is None:
            raise CommandError("not_found", shown, None, "", "", NOT_FOUND_HINT,
                               detail="no such executable on PATH (%s)" % env.get("PATH", ""))
        started = time.monotonic()
        try:
            # A new session (and so a new process group), so a timeout can kill the
            # tool with everything it started (ssh, nix builders).
            proc = subprocess.Popen(argv, cwd=cwd or self.cwd, env=env, start_new_session=True,
                                    stdin=subprocess.PIPE if data is not None else subprocess.DEVNULL,
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        except OSError as exc:
            raise CommandError("not_found", shown, None, "", "", NOT_FOUND_HINT, detail=str(exc)) from exc
        out, err, timed_out = _communicate(proc, data, timeout)
        stdout, stderr = _decode(out), _decode(err)
        if timed_out:
            raise CommandError("timeout", shown, None, self.scrub(stdout), self.scrub(stderr),
                               TIMEOUT_HINT + (" (%s)" % hint if hint else ""), detail=str(timeout))
        result = Result(shown, proc.returncode, self.scrub(stdout), self.scrub(stderr),
                        time.monotonic() - started)
        self.history.append(result)
        if check and proc.returncode not in ok_rcs:
            raise CommandError("exit", shown, proc.returncode, result.stdout, result.stderr, hint)
        return result


# After the tool exits, how long its output may keep coming through pipes that a
# leftover child still holds; after that the leftovers are stopped, not waited for.
PIPE_GRACE = 1.0
# Between SIGTERM and SIGKILL when stopping a tool's process tree.
KILL_GRACE = 2.0


def _decode(data: bytes) -> str:
    return data.decode("utf-8", errors="replace")


def _communicate(proc: subprocess.Popen, data: str | None, timeout: float | None) -> tuple[bytes, bytes, bool]:
    """Read the tool's stdout and stderr until it exits, or until ``timeout``; then stop its tree.

    Why not ``Popen.communicate``: it reads until EOF, and EOF never comes while a
    grandchild (a background ``sleep``, an ssh master) holds the pipes, so the
    timeout was not hard. Here the deadline bounds everything; once the tool has
    exited, its leftovers get PIPE_GRACE seconds to finish writing and are then
    stopped. Returns (stdout, stderr, timed_out).
    """
    deadline = None if timeout is None else time.monotonic() + timeout
    if data is not None:
        threading.Thread(target=_feed, args=(proc.stdin, data), daemon=True).start()
    out_fd, err_fd = proc.stdout.fileno(), proc.stderr.fileno()
    chunks: dict[int, list[bytes]] = {out_fd: [], err_fd: []}
    selector = selectors.DefaultSelector()
    for stream in (proc.stdout, proc.stderr):
        selector.register(stream.fileno(), selectors.EVENT_READ)
    exited_at = None
    timed_out = leftovers = False
    try:
        while selector.get_map():
            now = time.monotonic()
            if exited_at is None and proc.poll() is not None:
                exited_at = now
            if exited_at is not None and now - exited_at > PIPE_GRACE:
                leftovers = True
                break
            if deadline is not None and now >= deadline:
                timed_out = True
                break
            wait = 0.2
            if deadline is not None:
                wait = min(wait, max(deadline - now, 0))
            for key, _mask in selector.select(wait):
                block = os.read(key.fd, 65536)
                if block:
                    chunks[key.fd].append(block)
                else:
                    selector.unregister(key.fd)
        if timed_out or leftovers or proc.poll() is None:
            stop_tree(proc)
        _drain(selector, chunks)
    except BaseException:
        # Interrupted while the tool runs (Ctrl-C, or the task's `timeout:`, which Ansible raises inside
        # the worker that runs an in-worker module): the tool and its children must not outlive the task.
        stop_tree(proc)
        raise
    finally:
        selector.close()
        for stream in (proc.stdout, proc.stderr):
            stream.close()
    if proc.poll() is None:
        proc.wait()
    return b"".join(chunks[out_fd]), b"".join(chunks[err_fd]), timed_out


def _feed(stdin, data: str) -> None:
    try:
        stdin.write(data.encode("utf-8"))
        stdin.close()
    except (BrokenPipeError, OSError, ValueError):
        pass  # the tool exited or was stopped before reading all of its input


def _drain(selector, chunks: dict) -> None:
    """Whatever is already buffered in the pipes, without waiting for EOF."""
    while selector.get_map():
        ready = selector.select(0)
        if not ready:
            return
        for key, _mask in ready:
            block = os.read(key.fd, 65536)
            if block:
                chunks[key.fd].append(block)
            else:
                selector.unregister(key.fd)


def descendants(pid: int) -> list[int]:
    """Every live process below ``pid``, read from /proc (Linux) or ``ps`` (macOS); [] when neither works."""
    parents: dict[int, int] = {}
    if os.path.isdir("/proc/self"):
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    with open("/proc/%s/stat" % entry, encoding="utf-8", errors="replace") as handle:
                        stat = handle.read()
                except OSError:
                    continue
                # The command name (field 2) may hold spaces and parentheses: split after the last ')'.
                fields = stat.rsplit(")", 1)[-1].split()
                parents[int(entry)] = int(fields[1])
    else:
        try:
            listing = subprocess.run(["ps", "-A", "-o", "pid=", "-o", "ppid="], capture_output=True, text=True,
                                     timeout=10, check=False).stdout
        except (OSError, subprocess.SubprocessError):
            return []
        for line in listing.splitlines():
            words = line.split()
            if len(words) == 2 and words[0].isdigit() and words[1].isdigit():
                parents[int(words[0])] = int(words[1])
    found, frontier = [], [pid]
    while frontier:
        parent = frontier.pop()
        children = [child for child, ppid in parents.items() if ppid == parent and child not in found]
        found += children
        frontier += children
    return found


def _signal(pgid: int, pids: list[int], sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except OSError:
        pass  # the group is gone already
    for pid in pids:
        try:
            os.kill(pid, sig)
        except OSError:
            pass


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except OSError:
        return False
    return True


def stop_tree(proc: subprocess.Popen, grace: float = KILL_GRACE) -> None:
    """SIGTERM the tool's process group and every descendant (also those that left the
    group with setsid), then SIGKILL whatever is left after ``grace`` seconds."""
    pgid = proc.pid  # start_new_session: the tool leads its own group
    pids = descendants(proc.pid)
    _signal(pgid, pids, signal.SIGTERM)
    end = time.monotonic() + grace
    while time.monotonic() < end:
        proc.poll()  # reap the leader, or it stays in the group as a zombie
        if not _group_alive(pgid) and not any(_alive(pid) for pid in pids):
            return
        time.sleep(0.05)
    _signal(pgid, pids + [p for p in descendants(proc.pid) if p not in pids], signal.SIGKILL)
    proc.poll()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    try:  # a zombie has exited: only its parent's wait() is missing
        with open("/proc/%d/stat" % pid, encoding="utf-8", errors="replace") as handle:
            return handle.read().rsplit(")", 1)[-1].split()[0] != "Z"
    except OSError:
        return True


def parse_json(result: Result, what: str = "JSON", hint: str = ""):
    """Parse ``result.stdout`` as one JSON document or raise CommandError naming the command."""
    try:
        return json.loads(result.stdout)
    except ValueError as exc:
        raise CommandError("bad_output", result.argv, result.rc, result.stdout, result.stderr,
                           hint or "check that the tool version prints %s" % what,
                           detail="expected %s, found %r (%s)" % (what, result.stdout[:200], exc)) from exc


def parse_json_lines(result: Result, what: str = "JSON lines", hint: str = "") -> list:
    """Parse one JSON value per non-empty stdout line (tofu's -json streams)."""
    values = []
    for number, line in enumerate(result.stdout.splitlines(), 1):
        if not line.strip():
            continue
        try:
            values.append(json.loads(line))
        except ValueError as exc:
            raise CommandError("bad_output", result.argv, result.rc, result.stdout, result.stderr,
                               hint or "check that the tool version prints %s" % what,
                               detail="line %d is not JSON: %r" % (number, line[:200])) from exc
    return values


def fail_from_error(module, error: CommandError, **extra) -> None:
    """``module.fail_json`` with the error's message, command, rc, output and kind."""
    result = error.to_dict()
    result.update(extra)
    module.fail_json(msg=str(error), **result)


def environment_args() -> dict:
    """argument_spec entries documented by the fleet.migration.command_environment doc fragment."""
    return dict(
        environment=dict(type="dict", default={}),
        # no_log makes Ansible mask the values in logs and results; runner_for also scrubs them from errors.
        secret_environment=dict(type="dict", default={}, no_log=True),
    )


def runner_for(module, env: dict | None = None, secrets: list[str] | tuple[str, ...] = ()) -> Runner:
    """A Runner configured from a module's ``timeout``, ``environment`` and ``secret_environment`` options.

    A module run in Ansible's worker (plugins/plugin_utils/in_worker.py) carries
    the task's ``environment:`` as ``task_environment``: it goes under the rest,
    as it would in the environment of a module process.
    """
    merged = dict(getattr(module, "task_environment", None) or {})
    merged.update(env or {})
    merged.update(module.params.get("environment") or {})
    hidden = {name: str(value) for name, value in (module.params.get("secret_environment") or {}).items()}
    merged.update(hidden)
    return Runner(timeout=module.params.get("timeout") or DEFAULT_TIMEOUT, env=merged,
                  secrets=list(secrets) + list(hidden.values()))
