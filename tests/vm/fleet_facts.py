"""Write the fleet facts the molecule VMs stand in for, read from the real flake.

The VMs play the part of the clan machine named by --machine (default
`testvm`, the fleet's test VM). Everything a verification role compares
against is derived here from `nix eval .#fleet` and the clan inventory, the
same sources the fleet.migration.clan inventory plugin reads, so no port or
secret expectation is written twice:

  fleet_ports, fleet_public_surface   .#fleet.ports / .#fleet.publicSurface
  fleet_phase                         the machine's phaseN tag
  fleet_expected_secrets              the machine's clan vars generators whose
                                      files are deployed secrets needed for
                                      services (they land in /run/secrets/vars)

    python3 tests/vm/fleet_facts.py --out FILE [--machine testvm] [--host node1 ...]
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from support.nix import inventory, nix_eval

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / ".collections"))
from ansible_collections.fleet.migration.plugins.module_utils import clan_inventory  # noqa: E402


def expected_secrets(fleet: dict, machine: str, tags: list[str], host: str) -> list[dict]:
    """The inventory plugin's derivation (clan_inventory.expected_secrets) for
    `machine`'s tags and service instances, with files named for `host`."""
    services = list(fleet.get("serviceRoles", {}).get(machine, {}))
    return clan_inventory.expected_secrets(fleet.get("generators", {}), tags, services, host)


def phase_of(tags: list[str]) -> int | None:
    phases = [int(t[5:]) for t in tags if re.fullmatch(r"phase\d+", t)]
    return phases[0] if phases else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--machine", default="testvm")
    parser.add_argument("--host", action="append", default=[], help="VM inventory names (secrets are per host)")
    args = parser.parse_args()
    fleet = nix_eval("fleet")
    machines = inventory()
    if args.machine not in machines:
        sys.exit(f"fleet_facts.py: machine {args.machine!r} is not in the clan inventory ({', '.join(sorted(machines))})")
    tags = machines[args.machine].get("tags", [])
    facts = {
        "machine": args.machine,
        "common": {
            "fleet_ports": fleet["ports"],
            "fleet_public_surface": fleet["publicSurface"],
            "fleet_phase": phase_of(tags),
            "clan_tags": tags,
        },
        "hosts": {host: {"fleet_expected_secrets": expected_secrets(fleet, args.machine, tags, host)}
                  for host in args.host},
    }
    args.out.write_text(json.dumps(facts, indent=2))
    print(json.dumps(facts))


if __name__ == "__main__":
    main()
