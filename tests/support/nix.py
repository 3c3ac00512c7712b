"""Shared helpers for tests that evaluate the real flake with the real nix.

Offline, full nixpkgs is replaced by nixpkgs.lib through the flags that
../shared/nix-offline/nix_offline.py prints; online (FLEET_NIX_ONLINE=1) no
override is applied.
"""
from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SHARED = Path(os.environ.get("FLEET_SHARED", REPO.parent / "shared"))
NIX_OFFLINE = SHARED / "nix-offline" / "nix_offline.py"


def have_nix() -> bool:
    return shutil.which("nix") is not None


@functools.lru_cache(maxsize=None)
def offline_flags(flake_dir: str = str(REPO)) -> tuple[str, ...]:
    """The --override-input flags that make `flake_dir` evaluate offline."""
    if os.environ.get("FLEET_NIX_ONLINE") == "1" or not NIX_OFFLINE.exists():
        return ()
    out = subprocess.run(
        ["python3", str(NIX_OFFLINE), "flags"], cwd=flake_dir, capture_output=True, text=True, check=True
    ).stdout
    return tuple(out.split()) + ("--no-write-lock-file",)


def nix_eval(attr: str, *, apply: str | None = None, flake: str | Path = REPO, extra: tuple[str, ...] = ()):
    """`nix eval --json <flake>#<attr>` parsed; raises CalledProcessError with nix's stderr."""
    cmd = ["nix", "eval", "--json", f"{flake}#{attr}", *offline_flags(str(flake)), *extra]
    if apply:
        cmd += ["--apply", apply]
    res = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if res.returncode:
        raise subprocess.CalledProcessError(res.returncode, cmd, res.stdout, res.stderr)
    return json.loads(res.stdout)


@functools.lru_cache(maxsize=None)
def inventory() -> dict:
    """The clan inventory's machines of the real flake (cached for the session)."""
    return nix_eval("clan.inventory.machines")
