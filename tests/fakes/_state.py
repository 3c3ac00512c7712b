"""State directory handling shared by the fakes."""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path


def state_dir(var: str) -> Path:
    value = os.environ.get(var)
    if not value:
        sys.stderr.write("fake: %s is not set; the tests set it to a scratch directory\n" % var)
        sys.exit(97)
    path = Path(value)
    path.mkdir(parents=True, exist_ok=True)
    return path


def log_call(state: Path, argv: list[str]) -> None:
    """Append argv to calls.jsonl so tests can assert the exact flags passed."""
    with open(state / "calls.jsonl", "a", encoding="utf-8") as handle:
        handle.write(json.dumps({"argv": argv, "cwd": os.getcwd()}) + "\n")


def load_json(path: Path, default):
    if not path.exists():
        return default
    return json.loads(path.read_text(encoding="utf-8"))


def save_json(path: Path, value) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(value, indent=2, sort_keys=True), encoding="utf-8")
    os.replace(tmp, path)


def host_name(address: str) -> str:
    """`[ssh://]user@host:port[?opts]` -> `host` (clan's ssh address form); `[v6]:port` and a bare v6 -> `v6`."""
    host = address.removeprefix("ssh://").split("?", 1)[0].rsplit("@", 1)[-1]
    if host.startswith("[") and "]" in host:
        return host[1:host.index("]")]
    if host.count(":") == 1:
        host = host.split(":", 1)[0]
    return host


def host_root(state: Path, address: str) -> Path:
    return state / "hosts" / host_name(address)


def unreachable(state: Path, address: str) -> bool:
    listed = (state / "unreachable").read_text().split() if (state / "unreachable").exists() else []
    return host_name(address) in listed
