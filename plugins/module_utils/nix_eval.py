# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Copyright: Fleet migration control plane maintainers
"""Run ``nix eval`` against a flake and turn its failures into clear errors.

Pure standard library, so modules, action plugins and the inventory plugin can
all import it. The API is small:

* :func:`resolve_flake` turns a flake argument (path or flake reference) into
  what nix is given, and refuses a local path that holds no ``flake.nix``.
* :func:`offline_flags` finds the flags that make a flake evaluate without the
  network (``nix_offline.py flags``) when the helper is present.
* :func:`eval_argv` builds the ``nix eval`` command line.
* :func:`run_nix` runs it with a timeout and raises :class:`NixError`.
* :func:`eval_json` does all of the above and returns the parsed JSON.

Every :class:`NixError` has a ``kind`` (one of :data:`ERROR_KINDS`) so callers
can react to the kind of failure instead of parsing text, and a message that
says what was expected, what was found and what to do.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

DEFAULT_TIMEOUT = 120

# The kinds of failure a caller may want to tell apart.
NIX_MISSING = "nix_missing"
FLAKE_NOT_FOUND = "flake_not_found"
EVAL_ERROR = "eval_error"
TIMEOUT = "timeout"
BAD_OUTPUT = "bad_output"
OFFLINE_FLAGS = "offline_flags"
ERROR_KINDS = (NIX_MISSING, FLAKE_NOT_FOUND, EVAL_ERROR, TIMEOUT, BAD_OUTPUT, OFFLINE_FLAGS)

# Where the offline helper lives relative to a checkout (a sibling `shared`
# folder); FLEET_SHARED overrides the folder, FLEET_NIX_ONLINE=1 disables it.
OFFLINE_HELPER_RELPATH = os.path.join("nix-offline", "nix_offline.py")

# Lines of nix's stderr that tell the flake (or path) does not exist.
_NOT_FOUND_MARKERS = (
    "does not contain a 'flake.nix'",
    "could not find a flake.nix file",
    "cannot find flake",
    "No such file or directory",
)
# Kept from nix's error output when it is very long: the head names the failing
# attribute, the tail holds the innermost `error:` line.
_ERROR_HEAD_LINES = 12
_ERROR_TAIL_LINES = 40


class NixError(Exception):
    """A failed nix invocation.

    Attributes: ``kind`` (one of ERROR_KINDS), ``cmd`` (argv list or None),
    ``rc`` (exit code or None), ``stderr`` (nix's error text, warnings removed).
    """

    def __init__(self, kind: str, message: str, cmd: list[str] | None = None, rc: int | None = None,
                 stderr: str = "") -> None:
        super().__init__(message)
        self.kind = kind
        self.cmd = cmd
        self.rc = rc
        self.stderr = stderr

    def to_dict(self) -> dict:
        """A JSON-able view, for module results."""
        return {"kind": self.kind, "msg": str(self), "cmd": self.cmd, "rc": self.rc, "stderr": self.stderr}


def _looks_like_path(flake: str) -> bool:
    """True when ``flake`` is a filesystem path rather than a flake reference."""
    if flake.startswith(("/", ".", "~")):
        return True
    # `github:o/r`, `git+file:///x`, `path:/x` are references; a bare word is a
    # registry name (e.g. `nixpkgs`) unless it exists on disk.
    return ":" not in flake and os.path.exists(flake)


def find_flake_root(start: str) -> str | None:
    """The nearest directory at or above ``start`` that holds a flake.nix."""
    current = os.path.abspath(start if os.path.isdir(start) else os.path.dirname(start))
    while True:
        if os.path.isfile(os.path.join(current, "flake.nix")):
            return current
        parent = os.path.dirname(current)
        if parent == current:
            return None
        current = parent


def resolve_flake(flake: str) -> tuple[str, str | None]:
    """Return ``(reference for nix, local directory or None)``.

    A local path is made absolute and must contain flake.nix: nix would
    otherwise search upwards and silently evaluate a different flake.
    """
    if not _looks_like_path(flake):
        return flake, None
    directory = os.path.abspath(os.path.expanduser(flake))
    if not os.path.isdir(directory):
        raise NixError(
            FLAKE_NOT_FOUND,
            "flake not found: expected a directory containing flake.nix at '%s', found no such directory; "
            "set the flake option to the checkout of the fleet flake" % directory,
        )
    if not os.path.isfile(os.path.join(directory, "flake.nix")):
        raise NixError(
            FLAKE_NOT_FOUND,
            "flake not found: expected '%s' to contain flake.nix, found none; "
            "set the flake option to the checkout of the fleet flake" % directory,
        )
    return directory, directory


def find_offline_helper(flake_dir: str | None) -> str | None:
    """Path of nix_offline.py for ``flake_dir``, or None when not installed.

    Looked up in $FLEET_SHARED, then in a ``shared`` folder next to the flake's
    checkout, then next to the checkout holding this file (the collection).
    """
    if os.environ.get("FLEET_NIX_ONLINE") == "1":
        return None
    candidates = []
    if os.environ.get("FLEET_SHARED"):
        candidates.append(os.path.join(os.environ["FLEET_SHARED"], OFFLINE_HELPER_RELPATH))
    if flake_dir:
        candidates.append(os.path.join(os.path.dirname(flake_dir), "shared", OFFLINE_HELPER_RELPATH))
    # plugins/module_utils/nix_eval.py -> repository root -> its parent.
    here = os.path.dirname(os.path.realpath(__file__))
    repo_root = os.path.dirname(os.path.dirname(here))
    candidates.append(os.path.join(os.path.dirname(repo_root), "shared", OFFLINE_HELPER_RELPATH))
    for candidate in candidates:
        if os.path.isfile(candidate):
            return candidate
    return None


def offline_flags(flake_dir: str | None, mode: str = "auto", command: list[str] | None = None,
                  timeout: int = 60) -> list[str]:
    """Extra nix flags that let ``flake_dir`` evaluate offline.

    ``mode``: ``never`` returns []; ``auto`` uses the helper when it is found
    (so the same call works online elsewhere); ``always`` fails when it is not.
    ``command`` replaces the discovered helper (an argv printing flags).
    The helper reads flake.lock, so it runs in ``flake_dir``.
    """
    if mode not in ("auto", "always", "never"):
        raise NixError(OFFLINE_FLAGS, "nix_offline: expected one of auto, always, never; found '%s'" % mode)
    if mode == "never":
        return []
    if command:
        argv = list(command)
    else:
        helper = find_offline_helper(flake_dir)
        if helper is None:
            if mode == "always":
                raise NixError(
                    OFFLINE_FLAGS,
                    "nix_offline=always: expected the offline helper shared/nix-offline/nix_offline.py next to the "
                    "checkout or under $FLEET_SHARED, found none; install it or set nix_offline to auto",
                )
            return []
        if flake_dir is None:
            # A remote flake reference has no local flake.lock to read.
            return []
        argv = [sys.executable or "python3", helper, "flags"]
    try:
        proc = subprocess.run(argv, cwd=flake_dir, capture_output=True, text=True, timeout=timeout, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise NixError(OFFLINE_FLAGS, "offline flags command %s failed to run: %s; fix the command or set "
                       "nix_offline to never" % (argv, exc), cmd=argv) from exc
    if proc.returncode != 0:
        raise NixError(
            OFFLINE_FLAGS,
            "offline flags command %s exited %d: %s; fix the helper (is the nixpkgs.lib mirror fetched?) or set "
            "nix_offline to never" % (argv, proc.returncode, proc.stderr.strip() or proc.stdout.strip()),
            cmd=argv, rc=proc.returncode, stderr=proc.stderr,
        )
    flags = proc.stdout.split()
    # An overridden input must not be written back into flake.lock.
    if flags and "--no-write-lock-file" not in flags:
        flags.append("--no-write-lock-file")
    return flags


def eval_argv(attr: str, flake_ref: str, apply: str | None = None, nix_bin: str = "nix",
              nix_flags: list[str] | tuple[str, ...] = (), json_output: bool = True) -> list[str]:
    """The argv of ``nix eval [--json] <flake_ref>#<attr> [flags] [--apply expr]``.

    ``attr`` ``.`` selects the flake's whole outputs attribute set.
    """
    argv = [nix_bin, "eval"]
    if json_output:
        argv.append("--json")
    argv.append("%s#%s" % (flake_ref, attr))
    argv.extend(nix_flags)
    if apply is not None:
        argv.extend(["--apply", apply])
    return argv


def nix_error_text(stderr: str) -> str:
    """nix's own error, without the warnings (lock file notes) that precede it."""
    lines = stderr.splitlines()
    start = next((i for i, line in enumerate(lines) if line.startswith("error:")), None)
    if start is None:
        kept = [line for line in lines if line.strip()]
    else:
        kept = lines[start:]
    if len(kept) > _ERROR_HEAD_LINES + _ERROR_TAIL_LINES:
        omitted = len(kept) - _ERROR_HEAD_LINES - _ERROR_TAIL_LINES
        kept = kept[:_ERROR_HEAD_LINES] + ["       ... (%d lines omitted)" % omitted] + kept[-_ERROR_TAIL_LINES:]
    return "\n".join(kept).strip()


def classify(stderr: str) -> str:
    """The ERROR_KINDS entry that best describes a failed nix run's stderr."""
    text = nix_error_text(stderr)
    first = text.splitlines()[0] if text else ""
    if any(marker in first for marker in _NOT_FOUND_MARKERS):
        return FLAKE_NOT_FOUND
    return EVAL_ERROR


def run_nix(argv: list[str], timeout: int = DEFAULT_TIMEOUT, cwd: str | None = None,
            env: dict | None = None) -> str:
    """Run a nix command; return stdout or raise NixError with nix's message."""
    if shutil.which(argv[0]) is None and not os.path.isfile(argv[0]):
        raise NixError(
            NIX_MISSING,
            "nix not found: expected the '%s' executable on PATH (%s), found none; install nix "
            "(scripts/setup does it) or set nix_bin to its path" % (argv[0], os.environ.get("PATH", "")),
            cmd=argv,
        )
    try:
        proc = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired as exc:
        raise NixError(
            TIMEOUT,
            "nix timed out: expected '%s' to finish within %ss, it did not; raise the timeout option or check "
            "that nix is not fetching from the network" % (" ".join(argv[:3]), timeout),
            cmd=argv,
        ) from exc
    except OSError as exc:
        raise NixError(NIX_MISSING, "nix could not be run: %s (%s); check nix_bin" % (argv[0], exc), cmd=argv) from exc
    if proc.returncode != 0:
        text = nix_error_text(proc.stderr)
        kind = classify(proc.stderr)
        if kind == FLAKE_NOT_FOUND:
            message = ("flake not found: nix could not open the flake of '%s':\n%s\n"
                       "check the flake option" % (_installable(argv), text))
        else:
            message = ("nix evaluation failed (exit %d) for '%s':\n%s\n"
                       "fix the flake so that it evaluates, then rerun" % (proc.returncode, _installable(argv), text))
        raise NixError(kind, message, cmd=argv, rc=proc.returncode, stderr=text)
    return proc.stdout


def _installable(argv: list[str]) -> str:
    """What was evaluated, for messages: the flake installable, or `--expr`."""
    if "--expr" in argv:
        return "--expr"
    return next((arg for arg in argv if "#" in arg), " ".join(argv))


def eval_json(attr: str, flake: str = ".", apply: str | None = None, nix_bin: str = "nix",
              nix_flags: list[str] | tuple[str, ...] = (), offline: str = "auto",
              offline_command: list[str] | None = None, timeout: int = DEFAULT_TIMEOUT):
    """Evaluate ``<flake>#<attr>`` (optionally through ``--apply``) and parse its JSON."""
    flake_ref, flake_dir = resolve_flake(flake)
    flags = offline_flags(flake_dir, offline, offline_command) + list(nix_flags)
    argv = eval_argv(attr, flake_ref, apply=apply, nix_bin=nix_bin, nix_flags=flags)
    stdout = run_nix(argv, timeout=timeout, cwd=flake_dir)
    try:
        return json.loads(stdout)
    except ValueError as exc:
        raise NixError(
            BAD_OUTPUT,
            "nix printed no JSON for '%s': expected a JSON document, found %r; check nix_flags for options that "
            "change the output" % (_installable(argv), stdout[:200]),
            cmd=argv,
        ) from exc


def eval_expr_json(expr: str, nix_bin: str = "nix", impure: bool = True, timeout: int = DEFAULT_TIMEOUT,
                   cwd: str | None = None):
    """Evaluate a Nix expression (no flake) and parse its JSON.

    ``impure`` lets the expression read absolute paths outside the store,
    e.g. to import each file of a checkout.
    """
    argv = [nix_bin, "eval", "--json"] + (["--impure"] if impure else []) + ["--expr", expr]
    stdout = run_nix(argv, timeout=timeout, cwd=cwd)
    try:
        return json.loads(stdout)
    except ValueError as exc:
        raise NixError(BAD_OUTPUT, "nix printed no JSON for an expression: found %r" % stdout[:200], cmd=argv) from exc
