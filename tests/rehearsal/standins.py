"""Stand-in hosts for the rehearsal: which machines, their containers, their
trust and the inventory layer that points the real inventory at them.

Which machines: every machine of the clan inventory tagged phase1 ... phase5
(`nix eval .#clan.inventory.machines` through tests/support/nix.py). No name
is written here. Each gets a podman container running systemd as PID 1
(tests/rehearsal/containers.py, the image of tests/rehearsal/build-rootfs.sh),
answering SSH on port 22 of its own address on the run's `public` network, so
`user@host` targets without a port (clan's --target-host) reach it.

Trust: a fleet SSH CA is generated for the rehearsal (state dir, never the
repository); each stand-in's host key, read through `podman exec` (not over
the network, so nothing is trusted on first use), is signed with it, and the
controller trusts only the CA, through one `@cert-authority` line in
known_hosts. An `ssh` wrapper on the rehearsal's PATH points every ssh the
controller runs (Ansible, clan_machine's profile read, the fakes) at it.

The inventory layer (`rehearsal.yml`) is used after the real source:
    ansible-playbook -i inventory/clan.yml -i STATE/inventory/rehearsal.yml ...
It sets, per host, only what differs on a stand-in: ansible_host/port/user,
the mesh and public addresses, the rehearsal CA, that the host is a stand-in,
and the shortened windows (host variables: a second source's group_vars would
rank below inventory/group_vars/all.yml in Ansible's variable precedence).

    python3 tests/rehearsal/standins.py plan [--phases 1-5] [--only a,b]
    python3 tests/rehearsal/standins.py up --state-dir DIR [--phases 1-5] [--only a,b]
    python3 tests/rehearsal/standins.py down --state-dir DIR
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(HERE))
import containers  # noqa: E402
from support import nix as nixsupport  # noqa: E402


# Windows shortened to minutes for the rehearsal (production: inventory/group_vars/all.yml).
WINDOWS = {
    "fleet_gate_host_stable_minutes": int(os.environ.get("FLEET_REHEARSAL_STABLE_MINUTES", "2")),
    "fleet_gate_cumulative_stable_minutes": int(os.environ.get("FLEET_REHEARSAL_CUMULATIVE_MINUTES", "4")),
    # Long enough that an earlier phase's evidence stays fresh for the whole rehearsal: phase N's
    # preflight needs phase N-1's hosts healthy now, phase 5's readiness every earlier host, and the
    # rehearsal collects only the phase in progress (a fresh check of the others costs minutes).
    "fleet_gate_max_health_age_minutes": int(os.environ.get("FLEET_REHEARSAL_HEALTH_AGE_MINUTES", "30")),
    "fleet_gate_min_health_checks": 1,
    "service_health_launchd_sample_seconds": 2,
}


def phase_of(tags: list[str]) -> int | None:
    found = [int(t[5:]) for t in tags if re.fullmatch(r"phase\d+", t)]
    return found[0] if found else None


def machine_class(machine: dict) -> str:
    tags = machine.get("tags", [])
    return machine.get("machineClass") or ("darwin" if "darwin" in tags else "nixos")


def plan(phases: range, only: list[str] | None = None, machines: dict | None = None) -> list[dict]:
    """The stand-ins for `phases`, ordered by phase then name, from the clan inventory."""
    machines = nixsupport.inventory() if machines is None else machines
    chosen = []
    for name, machine in machines.items():
        phase = phase_of(machine.get("tags", []))
        if phase in phases and (not only or name in only):
            chosen.append({"name": name, "phase": phase, "class": machine_class(machine),
                           "tags": machine.get("tags", [])})
    if only:
        unknown = sorted(set(only) - {m["name"] for m in chosen})
        if unknown:
            raise SystemExit(f"standins: --only names {', '.join(unknown)}, which are not machines of phases "
                             f"{phases.start}-{phases.stop - 1} in the clan inventory "
                             f"(modules/clan/inventory/machines.nix); choose from "
                             f"{', '.join(sorted(n for n, m in machines.items() if phase_of(m.get('tags', [])) in phases))}")
    return sorted(chosen, key=lambda m: (m["phase"], m["name"]))


def parse_phases(text: str) -> range:
    first, _sep, last = text.partition("-")
    return range(int(first), int(last or first) + 1)


def make_ca(state: Path) -> Path:
    """The rehearsal's fleet SSH CA (ed25519, no passphrase), created once per state dir."""
    ca = state / "ca" / "fleet-ca"
    if not ca.exists():
        ca.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "fleet-rehearsal-ca", "-f", str(ca)],
                       check=True)
    return ca


def host_pattern(subnet: str) -> str:
    """The ssh_config/known_hosts pattern of a /24: 10.1.2.0/24 -> 10.1.2.*"""
    net = subnet.split("/")[0].rsplit(".", 1)[0]
    if not subnet.endswith("/24"):
        raise ValueError(f"standins: expected the stand-ins' IPv4 network to be a /24; found {subnet}")
    return net + ".*"


def write_ssh_trust(state: Path, ca: Path, identity: str, pattern: str) -> dict:
    """known_hosts trusting only the CA for the stand-ins' addresses (`pattern`),
    an ssh_config using it, and an `ssh` wrapper (bin/ssh) that every ssh
    started by the rehearsal goes through."""
    known = state / "ssh" / "known_hosts"
    known.parent.mkdir(parents=True, exist_ok=True)
    known.write_text(f"@cert-authority {pattern} {ca.with_suffix('.pub').read_text().strip()}\n")
    config = state / "ssh" / "config"
    config.write_text(
        f"Host {pattern}\n"
        f"  UserKnownHostsFile {known}\n"
        "  StrictHostKeyChecking yes\n"
        f"  IdentityFile {identity}\n"
        "  IdentitiesOnly yes\n"
        "  BatchMode yes\n"
        "  ConnectTimeout 10\n"
        # A frozen stand-in (the unreachable fault) must fail a connection that
        # Ansible's ControlPersist master already holds, not hang it.
        "  ServerAliveInterval 5\n"
        "  ServerAliveCountMax 2\n"
    )
    real_ssh = shutil.which("ssh", path=os.environ.get("PATH", "").replace(str(state / "bin") + os.pathsep, ""))
    wrapper = state / "bin" / "ssh"
    wrapper.parent.mkdir(parents=True, exist_ok=True)
    wrapper.write_text(f'#!/bin/sh\n# rehearsal: trust the rehearsal CA only\nexec {real_ssh} -F {config} "$@"\n')
    wrapper.chmod(0o755)
    return {"known_hosts": str(known), "ssh_config": str(config), "bin": str(wrapper.parent)}


def certify(state: Path, ca: Path, instance: dict, principals: list[str]) -> None:
    """Sign the stand-in's host key with the rehearsal CA and make sshd present it.

    The key is read through `podman exec`, not over the network: nothing is
    trusted on first use (on a real host, clan's openssh generator made the
    certificate before deployment). Every SSH connection trusts the CA only."""
    key = containers.exec_(instance["container"], "cat /etc/ssh/ssh_host_ed25519_key.pub")
    certs = state / "ca" / "certs"
    certs.mkdir(parents=True, exist_ok=True)
    pub = certs / f"{instance['name']}.pub"
    pub.write_text(key)
    subprocess.run(["ssh-keygen", "-q", "-s", str(ca), "-h", "-I", instance["name"], "-n", ",".join(principals),
                    "-V", "-3d:+3d", str(pub)], check=True)
    cert = (certs / f"{instance['name']}-cert.pub").read_text()
    containers.exec_(
        instance["container"],
        "set -e; cat > /etc/ssh/ssh_host_ed25519_key-cert.pub; chmod 0644 /etc/ssh/ssh_host_ed25519_key-cert.pub; "
        "printf 'HostCertificate /etc/ssh/ssh_host_ed25519_key-cert.pub\\nPasswordAuthentication no\\n"
        "KbdInteractiveAuthentication no\\n' > /etc/ssh/sshd_config.d/10-fleet.conf; systemctl reload ssh.service",
        stdin=cert)


def systems(name: str, klass: str) -> list[str]:
    """The two system generations of a stand-in: before the migration (1) and the one deployed."""
    import hashlib

    label = "darwin-system" if klass == "darwin" else "nixos-system"
    return [f"/nix/store/{hashlib.md5(f'{name}-{kind}'.encode()).hexdigest()}-{label}-{name}-{suffix}"
            for kind, suffix in (("pre", "pre-migration"), ("new", "migrated"))]


def inventory_hostvars(state: Path) -> dict:
    """hostvars of the real inventory plugin with the rehearsal layer on top."""
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_INVENTORY_CACHE="False")
    res = subprocess.run([str(Path(sys.executable).with_name("ansible-inventory")), "-i",
                          str(REPO / "inventory" / "clan.yml"), "-i", str(state / "inventory" / "rehearsal.yml"),
                          "--list"], cwd=REPO, env=env, capture_output=True, text=True, check=False, timeout=600)
    if res.returncode:
        raise SystemExit(f"standins: ansible-inventory over inventory/clan.yml + the rehearsal layer failed:\n"
                         f"{res.stderr[-3000:]}")
    from support import ansible_json

    return ansible_json.loads(res.stdout)["_meta"]["hostvars"]


def python_tool(source: Path, dest: Path) -> None:
    """Copy a Python stand-in tool; Debian has python3 but no `python` for its shebang."""
    text = source.read_text().split("\n", 1)[1]
    dest.write_text("#!/usr/bin/python3\n" + text)
    dest.chmod(0o755)


def render_tree(root: Path, machine: dict, hv: dict) -> None:
    """The files a stand-in gets, from its inventory facts (the same the roles compare against)."""
    import jinja2

    templates = REPO / "molecule" / "shared" / "templates"
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(templates)), keep_trailing_newline=True)
    ports, surface = hv["fleet_ports"], hv["fleet_public_surface"]
    nft = env.get_template("nftables.conf.j2").render(
        ansible_managed="Written by tests/rehearsal/standins.py", fleet_mesh_interface=hv["fleet_mesh_interface"],
        fleet_vm_mgmt_interface=hv["fleet_public_interface"], allowed_tcp=[ports[n] for n in surface["tcp"]],
        allowed_udp=[ports[n] for n in surface["udp"]])
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "nftables.conf").write_text(nft)
    (root / "etc" / "fleet-standin").mkdir(parents=True)
    (root / "etc" / "fleet-standin" / "secrets.list").write_text(
        "".join(f"{s['path']} {s['owner']} {s['mode']}\n" for s in hv.get("fleet_expected_secrets", [])))
    files = HERE / "files"
    (root / "usr" / "local" / "bin").mkdir(parents=True)
    python_tool(files / "nix-env", root / "usr" / "local" / "bin" / "nix-env")
    fakes = root / "opt" / "fleet-standin" / "fakes"
    fakes.mkdir(parents=True)
    for name in ("profiles.py", "_state.py", "fake_darwin_rebuild.py"):
        shutil.copy(REPO / "tests" / "fakes" / name, fakes / name)
    pre, new = systems(machine["name"], machine["class"])
    for system in (pre, new):
        (root / system.lstrip("/") / "bin").mkdir(parents=True)
        shutil.copy(files / "switch-to-configuration", root / system.lstrip("/") / "bin" / "switch-to-configuration")
    (root / "nix" / "var" / "nix" / "profiles").mkdir(parents=True)
    (root / "etc" / "fleet" / "flake").mkdir(parents=True)
    if machine["class"] == "darwin":
        shutil.copy(files / "darwin-rebuild", root / "usr" / "local" / "bin" / "darwin-rebuild")
        python_tool(files / "launchctl", root / "usr" / "local" / "bin" / "launchctl")
        state = root / "var" / "lib" / "fleet-standin" / "darwin-rebuild"
        state.mkdir(parents=True)
        config = {"hosts": {machine["name"]: {"system": new, "build_error": None}}}
        (state / "config.json").write_text(json.dumps(config))
        (state / "profiles").symlink_to("/nix/var/nix/profiles")
    shutil.copy(files / "setup.sh", root / "etc" / "fleet-standin" / "setup.sh")


def provision(state: Path, machine: dict, vm: dict, hv: dict, ssh: dict) -> str:
    """Unpack the stand-in's tree over one SSH connection (trusting the CA) and run setup.sh."""
    import tarfile

    root = state / "trees" / machine["name"]
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    render_tree(root, machine, hv)
    archive = state / "trees" / f"{machine['name']}.tar"
    with tarfile.open(archive, "w") as tar:
        for entry in sorted(root.iterdir()):
            tar.add(entry, arcname=entry.name)
    pre, _new = systems(machine["name"], machine["class"])
    words = (machine["name"], hv["fleet_mesh_interface"], hv["fleet_mesh_address"], pre)
    command = ("tar -x --no-same-owner --keep-directory-symlink -C / -f - && bash /etc/fleet-standin/setup.sh "
               + " ".join(shlex.quote(a) for a in words))
    with open(archive, "rb") as handle:
        res = subprocess.run([ssh["bin"] + "/ssh", f"root@{vm['ssh_host']}", command], stdin=handle,
                             capture_output=True, text=True, check=False, timeout=600)
    if res.returncode:
        raise SystemExit(f"standins: {machine['name']}: expected the stand-in set-up to succeed; it exited "
                         f"{res.returncode}: {res.stderr[-2000:]}. See {root} for what was sent.")
    return res.stdout.strip()


def host_vars(standins: list[dict], instances: list[dict], ca: Path, identity: str, ssh: dict) -> dict:
    by_name = {vm["name"]: vm for vm in instances}
    hosts = {}
    for machine in standins:
        vm = by_name[machine["name"]]
        entry = {
            "ansible_host": vm["ssh_host"],
            "ansible_port": vm["port"],
            "ansible_user": "root",
            "ansible_ssh_private_key_file": identity,
            "ansible_ssh_common_args": f"-F {ssh['ssh_config']}",
            "ansible_python_interpreter": "/usr/bin/python3",
            "fleet_mesh_address": vm["mesh_address"],
            "fleet_public_address": vm["public_address"],
            "fleet_mesh_interface": containers.MESH_IF,
            "fleet_public_interface": containers.PUBLIC_IF,
            "fleet_ssh_ca_public_key": str(ca.with_suffix(".pub")),
            # Every row the roles record says it was measured on a stand-in,
            # and the gates count such rows only because they are told to.
            "fleet_stand_in": True,
            "fleet_gate_accept_stand_ins": True,
            **WINDOWS,
        }
        if machine["class"] == "darwin":
            # darwin-rebuild runs on the host: the flake as the stand-in sees it.
            entry["fleet_host_flake"] = "/etc/fleet/flake"
            entry["fleet_darwin_become"] = False
            # regression_verify evaluates the real flake on the controller, offline
            # (the flake inputs from the mirrors), packages stubbed as in tests/nix.
            entry["regression_verify_nix_flags"] = list(nixsupport.offline_flags())
            entry["regression_verify_stub_pkgs"] = str(REPO / "tests" / "nix" / "stub-pkgs")
        hosts[machine["name"]] = entry
    return hosts


def write_inventory(state: Path, standins: list[dict], instances: list[dict], ca: Path, identity: str,
                    ssh: dict) -> Path:
    path = state / "inventory" / "rehearsal.yml"
    path.parent.mkdir(parents=True, exist_ok=True)
    body = {"all": {"hosts": host_vars(standins, instances, ca, identity, ssh)}}
    path.write_text("# Generated by tests/rehearsal/standins.py; layered after inventory/clan.yml.\n"
                    + json.dumps(body, indent=2) + "\n")
    return path


def provision_all(state: Path, standins: list[dict], vms: dict, ssh: dict) -> None:
    """Provision every stand-in, in parallel (each is one SSH round-trip)."""
    from concurrent.futures import ThreadPoolExecutor

    hostvars = inventory_hostvars(state)
    by_name = {vm["name"]: vm for vm in vms["instances"]}
    with ThreadPoolExecutor(max_workers=len(standins) or 1) as pool:
        jobs = {m["name"]: pool.submit(provision, state, m, by_name[m["name"]], hostvars[m["name"]],
                                       ssh) for m in standins}
        for name, job in jobs.items():
            say(f"provision {name}: {job.result()}")


def say(text: str) -> None:
    print(f"[standins] {text}", file=sys.stderr, flush=True)


def up(state: Path, standins: list[dict], timeout: int) -> dict:
    state.mkdir(parents=True, exist_ok=True)
    ca = make_ca(state)
    say(f"start {len(standins)} podman container(s), systemd as PID 1: {', '.join(m['name'] for m in standins)}")
    vms = containers.up(state, [m["name"] for m in standins], timeout)
    say(f"sshd answers on every stand-in after {vms['boot_seconds']}s; certify host keys with the rehearsal CA")
    ssh = write_ssh_trust(state, ca, vms["identity_file"], host_pattern(vms["subnets"]["public4"]))
    domain = nixsupport.nix_eval("fleet.domain") if os.environ.get("FLEET_REHEARSAL_DOMAIN") is None \
        else os.environ["FLEET_REHEARSAL_DOMAIN"]
    for vm in vms["instances"]:
        certify(state, ca, vm, [f"{vm['name']}.{domain}", vm["name"], vm["ssh_host"]])
    # The deploy target of the rehearsal: a user of the fake clan reads it here.
    for machine in standins:
        machine["systems"] = systems(machine["name"], machine["class"])
        machine["ssh_host"] = next(v["ssh_host"] for v in vms["instances"] if v["name"] == machine["name"])
    inventory = write_inventory(state, standins, vms["instances"], ca, vms["identity_file"], ssh)
    provision_all(state, standins, vms, ssh)
    result = {"standins": standins, "vms": vms, "ca": str(ca), "ssh": ssh, "inventory": str(inventory)}
    (state / "standins.json").write_text(json.dumps(result, indent=2))
    return result


def down(state: Path) -> list[str]:
    """Remove every container and network the run in `state` started."""
    return containers.down(state)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="cmd", required=True)
    for name in ("plan", "up"):
        p = sub.add_parser(name)
        p.add_argument("--phases", default="1-5")
        p.add_argument("--only", default="", help="comma-separated machine names (a subset, for development)")
        if name == "up":
            p.add_argument("--state-dir", required=True, type=Path)
            p.add_argument("--timeout", type=int, default=int(os.environ.get("FLEET_STANDIN_BOOT_TIMEOUT", "300")))
    p_down = sub.add_parser("down")
    p_down.add_argument("--state-dir", required=True, type=Path)
    args = parser.parse_args()
    if args.cmd == "down":
        print(json.dumps({"stopped": down(args.state_dir)}))
        return
    standins = plan(parse_phases(args.phases), [n for n in args.only.split(",") if n])
    if args.cmd == "plan":
        print(json.dumps(standins))
        return
    print(json.dumps(up(args.state_dir, standins, args.timeout)))


if __name__ == "__main__":
    main()
