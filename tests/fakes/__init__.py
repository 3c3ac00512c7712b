"""Contract fakes of the CLIs the fleet.migration modules wrap.

Each fake reproduces the upstream CLI's flags, output formats and exit codes
(the upstream file is cited at the top of each fake) and keeps its state in a
directory named by an environment variable, so that idempotence (a second run
changes nothing) and rollback are exercised for real. The fakes are test
doubles only: nothing outside tests/ may use them.

``install(bin_dir)`` writes small shims named like the real executables
(``clan``, ``ssh``, ``darwin-rebuild``, ``tofu``) that run the fakes with the
current Python interpreter.
"""
from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

# executable name -> fake script
FAKES = {
    "clan": "fake_clan.py",
    "ssh": "fake_ssh.py",
    "darwin-rebuild": "fake_darwin_rebuild.py",
    "tofu": "fake_tofu.py",
}


def install(bin_dir: Path, names: list[str] | None = None) -> Path:
    """Create shims for ``names`` (default: all fakes) in ``bin_dir``; return it."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    for name in names or list(FAKES):
        shim = bin_dir / name
        shim.write_text('#!/bin/sh\nexec "%s" "%s" "$@"\n' % (sys.executable, HERE / FAKES[name]))
        shim.chmod(shim.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return bin_dir


def path_with(bin_dir: Path) -> str:
    return "%s%s%s" % (bin_dir, os.pathsep, os.environ.get("PATH", ""))
