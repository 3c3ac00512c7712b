"""The migration timeline, from the ledger alone: one row per host (ordered by
phase), every deployment, health check, problem and gate decision as a
marker, and each phase's stability window drawn in (from the deployment it
counts from to the GO that closed it, or to the last row while no GO exists).

    python3 tests/rehearsal/timeline.py --ledger L --out timeline.svg
"""
from __future__ import annotations

import argparse
import datetime as dt
import sqlite3
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

LABELS = {
    "deployment": {1: "deployment ok", 0: "deployment failed"},
    "health": {1: "health ok", 0: "health failed"},
    "problem": {1: "problem closed", 0: "problem opened"},
    "gate": {1: "gate GO", 0: "gate NO-GO"},
}
STYLE = {  # kind -> (marker, size)
    "deployment": ("^", 80),
    "health": (".", 40),
    "problem": ("X", 90),
    "gate": ("D", 60),
}


def load(path: Path) -> list[dict]:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        cur = conn.execute("SELECT id, recorded_at, kind, host, phase, check_name, ok, details FROM events ORDER BY id")
        cols = [c[0] for c in cur.description]
        rows = [dict(zip(cols, r)) for r in cur.fetchall()]
    finally:
        conn.close()
    for row in rows:
        row["at"] = dt.datetime.fromisoformat(row["recorded_at"])
    return rows


def windows(rows: list[dict]) -> list[tuple[int, dt.datetime, dt.datetime, bool]]:
    """(phase, start, end, closed by GO) per phase: from the last successful deployment
    of the phase before its first GO to that GO."""
    out = []
    for phase in sorted({r["phase"] for r in rows if r["phase"] is not None and r["phase"] >= 1}):
        mine = [r for r in rows if r["phase"] == phase]
        gos = [r for r in mine if r["kind"] == "gate" and r["check_name"] == "gate" and r["ok"]]
        end = gos[0] if gos else mine[-1]
        deploys = [r for r in mine if r["kind"] == "deployment" and r["ok"] and r["id"] < end["id"]]
        if deploys:
            out.append((phase, deploys[-1]["at"], end["at"], bool(gos)))
    return out


def plot(rows: list[dict], out: Path) -> None:
    hosts = sorted({r["host"] for r in rows if r["host"] != "localhost"},
                   key=lambda h: (min((r["phase"] or 99) for r in rows if r["host"] == h), h))
    if "localhost" in {r["host"] for r in rows}:
        hosts = ["localhost"] + hosts
    index = {h: i for i, h in enumerate(hosts)}
    fig, ax = plt.subplots(figsize=(14, 1.2 + 0.6 * len(hosts)))
    colours = plt.get_cmap("tab10")
    for phase, start, end, closed in windows(rows):
        ax.axvspan(start, end, color=colours(phase % 10), alpha=0.12)
        ax.text(start, len(hosts) - 0.4, f"phase {phase} window" + ("" if closed else " (open)"),
                fontsize=8, color=colours(phase % 10))
    for kind, (marker, size) in STYLE.items():
        for ok in (1, 0):
            sel = [r for r in rows if r["kind"] == kind and r["ok"] == ok and r["host"] in index
                   and (kind != "gate" or r["check_name"] == "gate")]
            if sel:
                ax.scatter([r["at"] for r in sel], [index[r["host"]] for r in sel], marker=marker, s=size,
                           c="tab:green" if ok else "tab:red", edgecolors="black", linewidths=0.3,
                           label=LABELS[kind][ok], zorder=3)
    # The checks a phase's preflight makes of the earlier gates, apart from the phase's own decisions.
    for ok in (1, 0):
        sel = [r for r in rows if r["kind"] == "gate" and r["check_name"] != "gate" and r["ok"] == ok
               and r["host"] in index]
        if sel:
            ax.scatter([r["at"] for r in sel], [index[r["host"]] - 0.25 for r in sel], marker="s", s=25,
                       c="tab:green" if ok else "tab:red", edgecolors="black", linewidths=0.3,
                       label=f"preflight {'passed' if ok else 'refused'}", zorder=3)
    ax.set_yticks(range(len(hosts)), hosts)
    ax.set_ylim(-0.7, len(hosts) - 0.1)
    ax.set_xlabel("recorded at (UTC)")
    ax.set_title("Migration rehearsal timeline (from the stability ledger)")
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8)
    fig.autofmt_xdate()
    fig.tight_layout()
    fig.savefig(out, format="svg")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--ledger", required=True, type=Path)
    parser.add_argument("--out", required=True, type=Path)
    args = parser.parse_args()
    rows = load(args.ledger)
    if not rows:
        raise SystemExit(f"timeline: expected events in {args.ledger}; found none. Run scripts/rehearse first.")
    plot(rows, args.out)
    print(args.out)


if __name__ == "__main__":
    main()
