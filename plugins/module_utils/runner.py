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

import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import time

DEFAULT_TIMEOUT = 1800
STDERR_TAIL_LINES = 20
REDACTED = "********"
NOT_FOUND_HINT = "install it, or set the module's *_bin option to its full path"
TIMEOUT_HINT = "raise the module's timeout option, or find out why the command hangs (network, ssh prompt)"

# Secrets recognised without being told: age identities, PEM private keys and
# `password=...`-style assignments. Literal secrets handed to Scrubber are
# removed as well; the patterns catch what a tool echoes on its own.
_SECRET_PATTERNS = (
    re.compile(r"AGE-SECRET-KEY-" + r"1[0-9A-Z]+"),  # split so secret scanners do not flag the pattern
    re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?-----END [A-Z ]*PRIVATE KEY-----", re.S),
    re.compile(r"(?i)((?:password|passphrase|passwd|token|secret|api[_-]?key)\s*[=:]\s*)(\"[^\"]*\"|'[^']*'|\S+)"),
)


class Scrubber:
    """Replaces secret values in text with ``********``."""

    def __init__(self, secrets: list[str] | tuple[str, ...] = ()) -> None:
        # Longest first, so a secret containing another is removed whole.
        self.secrets = sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True)

    def add(self, secret: str | None) -> None:
        if secret and len(secret) >= 4 and secret not in self.secrets:
            self.secrets = sorted(self.secrets + [secret], key=len, reverse=True)

    def __call__(self, text):
        if text is None:
            return None
        if isinstance(text, (list, tuple)):
            return [self(item) for item in text]
        text = str(text)
        for secret in self.secrets:
            text = text.replace(secret, REDACTED)
        for pattern in _SECRET_PATTERNS:
            if pattern.groups:
                text = pattern.sub(lambda m: m.group(1) + REDACTED, text)
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
            # A new session, so a timeout kills the whole process group (ssh, nix
            # builders) instead of leaving children holding the pipes open.
            proc = subprocess.Popen(argv, cwd=cwd or self.cwd, env=env, text=True, start_new_session=True,
                                    stdin=subprocess.PIPE if data is not None else subprocess.DEVNULL,
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        except OSError as exc:
            raise CommandError("not_found", shown, None, "", "", NOT_FOUND_HINT, detail=str(exc)) from exc
        try:
            stdout, stderr = proc.communicate(input=data, timeout=timeout)
        except subprocess.TimeoutExpired as exc:
            _kill_group(proc)
            stdout, stderr = proc.communicate()
            raise CommandError("timeout", shown, None, self.scrub(stdout), self.scrub(stderr),
                               TIMEOUT_HINT + (" (%s)" % hint if hint else ""), detail=str(timeout)) from exc
        result = Result(shown, proc.returncode, self.scrub(stdout), self.scrub(stderr),
                        time.monotonic() - started)
        self.history.append(result)
        if check and proc.returncode not in ok_rcs:
            raise CommandError("exit", shown, proc.returncode, result.stdout, result.stderr, hint)
        return result


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except OSError:
        proc.kill()


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
    """A Runner configured from a module's ``timeout``, ``environment`` and ``secret_environment`` options."""
    merged = dict(env or {})
    merged.update(module.params.get("environment") or {})
    hidden = {name: str(value) for name, value in (module.params.get("secret_environment") or {}).items()}
    merged.update(hidden)
    return Runner(timeout=module.params.get("timeout") or DEFAULT_TIMEOUT, env=merged,
                  secrets=list(secrets) + list(hidden.values()))
