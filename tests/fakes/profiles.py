"""Nix profile semantics shared by the fakes (no upstream code copied).

Reproduces what `nix-env -p PROFILE --set PATH`, `--rollback`,
`--switch-generation N` and `--list-generations` do to a profile directory
(nix: src/libstore/profiles.cc, src/nix-env/nix-env.cc): generations are
symlinks `<name>-<N>-link -> store path`, the profile itself is a symlink to
the current generation, and setting the path the newest generation already
points to creates no new generation. Messages and exit codes were checked
against nix 2.34's nix-env on this machine.
"""
from __future__ import annotations

import os
import re
import sys
import time
from pathlib import Path


def generations(profile: Path) -> list[tuple[int, Path]]:
    pattern = re.compile(re.escape(profile.name) + r"-(\d+)-link$")
    found = []
    if profile.parent.is_dir():
        for entry in profile.parent.iterdir():
            match = pattern.match(entry.name)
            if match:
                found.append((int(match.group(1)), entry))
    return sorted(found)


def current(profile: Path) -> int | None:
    if not profile.is_symlink():
        return None
    match = re.search(r"-(\d+)-link$", os.readlink(profile))
    return int(match.group(1)) if match else None


def store_path(profile: Path) -> str | None:
    if not profile.is_symlink():
        return None
    return os.readlink(profile.parent / os.readlink(profile))


def _point(profile: Path, number: int) -> None:
    tmp = profile.parent / (profile.name + ".tmp")
    if tmp.is_symlink():
        tmp.unlink()
    tmp.symlink_to("%s-%d-link" % (profile.name, number))
    os.replace(tmp, profile)


def set_path(profile: Path, path: str) -> int:
    """`nix-env -p PROFILE --set PATH`; returns the (possibly unchanged) current generation."""
    profile.parent.mkdir(parents=True, exist_ok=True)
    gens = generations(profile)
    if gens and os.readlink(gens[-1][1]) == path:
        number = gens[-1][0]
    else:
        number = gens[-1][0] + 1 if gens else 1
        (profile.parent / ("%s-%d-link" % (profile.name, number))).symlink_to(path)
    _point(profile, number)
    return number


def switch(profile: Path, number: int | None) -> int:
    """`--rollback` (number None) or `--switch-generation N`; exits 1 like nix-env on errors."""
    cur = current(profile)
    numbers = [n for n, _link in generations(profile)]
    if number is None:
        older = [n for n in numbers if cur is not None and n < cur]
        if not older:
            sys.stderr.write("error: no profile version older than the current (%s) exists\n" % cur)
            sys.exit(1)
        number = older[-1]
    elif number not in numbers:
        sys.stderr.write("error: profile version %d does not exist\n" % number)
        sys.exit(1)
    sys.stderr.write("switching profile from version %s to %d\n" % (cur, number))
    _point(profile, number)
    return number


def list_generations(profile: Path) -> str:
    """nix-env's `--list-generations` table: `%4d   YYYY-MM-DD HH:MM:SS   (current)`."""
    cur = current(profile)
    lines = []
    for number, link in generations(profile):
        stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(link.lstat().st_mtime))
        lines.append("%4d   %s   %s" % (number, stamp, "(current)" if number == cur else ""))
    return "".join(line + "\n" for line in lines)
