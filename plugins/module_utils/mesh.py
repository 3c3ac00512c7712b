# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Copyright: contributors to fleet.migration
"""What mesh_verify derives per host: peers, the evidence of a probe run, its ledger row.

Pure functions, called by the fleet.migration.mesh_peers filter and the
fleet.migration.mesh_probe action. They were Jinja loops in the role's
vars/main.yml; templated per host and per reference, those loops cost O(n)
templating work per host and most of the role's time at 100 hosts. Here the
same work is plain Python: microseconds per peer.
"""
from __future__ import annotations

import json
from typing import Any, Callable, Iterable, Mapping

# The options of fleet.migration.mesh_probe, shared by its action plugin (which
# validates them) and its module file (which documents them).
ARGUMENT_SPEC: dict[str, dict[str, Any]] = {
    "peers": {"type": "dict", "required": True},
    "own_address": {"type": "str", "default": ""},
    "scope": {"type": "list", "elements": "str", "required": True},
    "port": {"type": "int", "required": True},
    "timeout": {"type": "int", "default": 5},
    "max_parallel": {"type": "int", "default": 16},
    "min_peers": {"type": "int", "default": 1},
    "python": {"type": "str", "default": "python3"},
    "probe_script": {"type": "path"},
    "record": {"type": "bool", "default": True},
    "phase": {"type": "raw"},
    "stand_in": {"type": "bool", "default": False},
    "run_id": {"type": "str", "default": ""},
}


def unique(items: Iterable[str]) -> list[str]:
    """Items in first-seen order without repeats (Jinja's `unique`)."""
    return list(dict.fromkeys(items))


def peers_of(host: str, scope: Iterable[str], addresses: Mapping[str, Any],
             lookup: Callable[[str], str] | None = None) -> dict[str, str]:
    """{peer: mesh address or ''} for every host of the scope except ``host``.

    ``addresses`` is the play's one map (built once, run_once); ``lookup``
    answers for a scope host missing from it (this host's scope differs from
    the one the map was built for).
    """
    peers: dict[str, str] = {}
    for peer in unique(scope):
        if peer == host:
            continue
        if peer in addresses:
            peers[peer] = str(addresses[peer] or "")
        else:
            peers[peer] = str(lookup(peer) or "") if lookup is not None else ""
    return peers


def without_address(host: str, own_address: str, peers: Mapping[str, str]) -> list[str]:
    """The hosts of the scope (this one included) that have no mesh address, sorted."""
    missing = [peer for peer, address in peers.items() if not address]
    if not own_address:
        missing.append(host)
    return sorted(missing)


def probe_output(rc: int | None, stdout: str, stderr: str) -> dict[str, Any]:
    """What the probe printed, or why it printed nothing usable (fail closed: an error)."""
    text = (stdout or "").strip()
    if text.startswith("{"):
        try:
            out = json.loads(text)
        except ValueError as exc:
            return {"error": f"the probe printed invalid JSON: {exc}"}
        if isinstance(out, dict):
            return out
    return {"error": f"the probe printed no JSON (exit {rc}): {(stderr or '').strip()}"}


def summarise(host: str, own_address: str, port: int, scope: Iterable[str], min_peers: int,
              max_parallel: int, peers: Mapping[str, str], out: Mapping[str, Any]) -> dict[str, Any]:
    """The evidence of one host's probe run: one entry per peer, sorted by name.

    A peer the probe did not report, or a probe that failed outright, counts as
    unreachable with the probe's error: silence is never read as success.
    """
    got = {t.get("name"): t for t in out.get("targets") or [] if isinstance(t, Mapping)}
    fallback = out.get("error") or "no result from the probe"
    rows = []
    for peer in sorted(peers):
        target = got.get(peer, {})
        reached = bool(target.get("reachable", False))
        rows.append({"peer": peer, "address": peers[peer], "reachable": reached,
                     "latency_ms": target.get("latency_ms"),
                     "error": "" if reached else (target.get("error") or fallback)})
    return {"source": host, "address": own_address, "port": int(port), "scope": sorted(unique(scope)),
            "min_peers": int(min_peers), "max_parallel": int(max_parallel),
            "probe_seconds": out.get("seconds"), "probe_error": out.get("error") or "",
            "peers": rows, "unreachable": [r["peer"] for r in rows if not r["reachable"]]}


def event_row(host: str, summary: Mapping[str, Any], phase: Any, stand_in: bool, run_id: str) -> dict[str, Any]:
    """This host's ledger row (an element of fleet.migration.ledger_record's events)."""
    peers = summary["peers"]
    reached = sum(1 for p in peers if p["reachable"])
    details = f"{host} reached {reached} of {len(peers)} peers over the mesh"
    if not peers:
        details += " (no peer in scope: membership not proven, mesh_verify_min_peers=0)"
    return {"kind": "health", "host": host, "check": "mesh_verify", "measured_on": "host",
            "phase": phase, "stand_in": bool(stand_in), "run_id": run_id or "",
            "ok": not summary["unreachable"], "evidence": dict(summary), "details": details}
