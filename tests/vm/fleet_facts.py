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


def generator_applies(gen: dict, tags: list[str], services: list[str]) -> bool:
    """A generator applies through a tag of the machine or a clan service it holds a role in."""
    applies = gen.get("appliesTo", {})
    if set(applies.get("tags", [])) & set(tags):
        return True
    # "@fleet/sshd (darwin; ...)" applies to a machine in the sshd service;
    # "@fleet/users" to one holding a users-<name> instance.
    service = applies.get("service", "")
    match = re.match(r"@[\w-]+/([\w-]+)", service)
    return bool(match) and any(s == match.group(1) or s.startswith(match.group(1) + "-") for s in services)


def expected_secrets(fleet: dict, machine: str, tags: list[str], host: str) -> list[dict]:
    services = list(fleet.get("serviceRoles", {}).get(machine, {}))
    users = [s.split("-", 1)[1] for s in services if s.startswith("users-")]
    secrets = []
    for name, gen in sorted(fleet.get("generators", {}).items()):
        if not generator_applies(gen, tags, services):
            continue
        template = gen.get("nameTemplate", name)
        # Shared generators that need a controller or a network instance are not host-local files.
        if "<controller>" in template or "<instance>" in template:
            continue
        names = [template.replace("<machine>", host).replace("<user>", u) for u in (users or [""])] \
            if "<user>" in template else [template.replace("<machine>", host)]
        for gen_name in names:
            for file_name, spec in sorted(gen.get("files", {}).items()):
                if spec.get("deploy") and spec.get("secret") and spec.get("neededFor") == "services":
                    secrets.append({
                        "path": f"vars/{gen_name}/{file_name}",
                        "owner": spec["owner"],
                        "mode": spec["mode"],
                    })
    return secrets


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
