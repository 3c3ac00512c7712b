"""Podman containers for the rehearsal's stand-in hosts, systemd as PID 1.

Each stand-in is a container of the image tests/rehearsal/build-rootfs.sh
builds (Debian bookworm, debootstrapped here: no registry), run rootful with
`--systemd=always`, so sshd, nftables and every unit run under a real systemd.
crun refuses this machine's hybrid cgroup layout (cgroup v1 controllers plus a
cgroup2 `unified` tree holding hugetlb), so the OCI runtime is runc
(FLEET_STANDIN_RUNTIME to change it).

Networks, made for one run and removed with it (names carry the run id):
- `public`: IPv4 (management: the controller's SSH) and an IPv6 ULA /64 (the
  host's public address, which firewall_verify probes from the controller);
- `mesh`: an IPv6 ULA /64, internal (no route off the host), joining every
  stand-in in place of ZeroTier.
Interfaces are named by the inventory (fleet_public_interface and
fleet_mesh_interface are set per host in the rehearsal layer).

Every container and network carries the label fleet.rehearsal=<run id>;
down() removes exactly those of its run (by label, from STATE/containers.json).
"""
from __future__ import annotations

import ipaddress
import json
import os
import secrets
import shutil
import subprocess
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
BUILDER = HERE / "build-rootfs.sh"
LABEL = "fleet.rehearsal"
RUNTIME = os.environ.get("FLEET_STANDIN_RUNTIME", "runc")
MESH_IF = "eth1"
PUBLIC_IF = "eth0"


class PodmanError(RuntimeError):
    pass


def podman(*args: str, timeout: int = 300, check: bool = True, stdin: str | None = None) -> str:
    argv = ["podman", "--runtime", RUNTIME, *args]
    res = subprocess.run(argv, capture_output=True, text=True, input=stdin, timeout=timeout, check=False)
    if check and res.returncode:
        raise PodmanError(f"containers: expected `{' '.join(argv)}` to succeed; it exited {res.returncode}: "
                          f"{res.stderr.strip()[-1500:]}")
    return res.stdout


def ula(second: int) -> ipaddress.IPv6Network:
    raw = b"\xfd" + secrets.token_bytes(5) + second.to_bytes(2, "big") + bytes(8)
    return ipaddress.IPv6Network((raw, 64))


def free_ipv4_subnet() -> ipaddress.IPv4Network:
    """A 10.x.y.0/24 that no podman network and no host route uses."""
    used = set()
    for name in podman("network", "ls", "--format", "{{.Name}}").split():
        for sub in json.loads(podman("network", "inspect", name))[0].get("subnets") or []:
            used.add(sub["subnet"])
    routes = subprocess.run(["ip", "-4", "route"], capture_output=True, text=True, check=False).stdout
    for _attempt in range(50):
        net = ipaddress.IPv4Network((f"10.{secrets.randbelow(200) + 40}.{secrets.randbelow(250) + 1}.0", 24))
        if str(net) not in used and str(net) not in routes:
            return net
    raise PodmanError("containers: expected a free 10.x.y.0/24 for the rehearsal's public network; found none in "
                      "50 tries. Remove stale podman networks (podman network ls).")


def build_image() -> str:
    res = subprocess.run([str(BUILDER)], capture_output=True, text=True, check=False, timeout=1800)
    if res.returncode:
        raise PodmanError(f"containers: expected {BUILDER} to build or find the stand-in image; it exited "
                          f"{res.returncode}: {res.stderr.strip()[-2000:]}")
    return res.stdout.strip().splitlines()[-1]


def cache_dir() -> Path:
    key = subprocess.run(["sha256sum", str(BUILDER)], capture_output=True, text=True, check=True).stdout[:16]
    root = Path(os.environ.get("FLEET_STANDIN_CACHE")
                or Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "fleet-standin")
    return root / key


def record(state: Path, data: dict) -> None:
    state.mkdir(parents=True, exist_ok=True)
    (state / "containers.json").write_text(json.dumps(data, indent=2))


def up(state: Path, names: list[str], timeout: int = 300) -> dict:
    """Start one container per name, joined by the run's two networks; wait for sshd."""
    image = build_image()
    run_id = secrets.token_hex(4)
    data: dict = {"run_id": run_id, "label": f"{LABEL}={run_id}", "networks": [], "containers": [], "instances": []}
    record(state, data)  # before anything exists: down() finds what was made even if up() fails half-way
    public4, public6, mesh6 = free_ipv4_subnet(), ula(1), ula(2)
    nets = {"public": f"fleet-rh-{run_id}-public", "mesh": f"fleet-rh-{run_id}-mesh"}
    podman("network", "create", "--label", data["label"], "--ipv6", "--subnet", str(public4),
           "--subnet", str(public6), nets["public"])
    data["networks"].append(nets["public"])
    record(state, data)
    podman("network", "create", "--label", data["label"], "--ipv6", "--internal", "--subnet", str(mesh6), nets["mesh"])
    data["networks"].append(nets["mesh"])
    record(state, data)
    key = cache_dir() / "id_ed25519"
    began = time.monotonic()
    for index, name in enumerate(names, start=10):
        container = f"fleet-rh-{run_id}-{name}"
        v4, pub6, mesh = str(public4[index]), str(public6[index]), str(mesh6[index])
        data["containers"].append(container)
        record(state, data)
        podman("run", "-d", "--name", container, "--hostname", name, "--label", data["label"],
               "--systemd=always", "--cap-add", "NET_ADMIN",
               # The sandbox's hard limits are below podman's defaults.
               "--ulimit", "nofile=4096:4096", "--ulimit", "nproc=4096:4096",
               "--memory", os.environ.get("FLEET_STANDIN_MEMORY", "256m"),
               "--network", f"{nets['public']}:ip={v4},ip6={pub6},interface_name={PUBLIC_IF}",
               "--network", f"{nets['mesh']}:ip6={mesh},interface_name={MESH_IF}",
               image)
        data["instances"].append({"name": name, "container": container, "ssh_host": v4, "port": 22,
                                  "public_address": pub6, "mesh_address": mesh})
        record(state, data)
    for instance in data["instances"]:
        wait_for_sshd(instance, key, began + timeout)
    data.update(identity_file=str(key), boot_seconds=round(time.monotonic() - began, 1),
                subnets={"public4": str(public4), "public6": str(public6), "mesh6": str(mesh6)})
    record(state, data)
    return data


def wait_for_sshd(instance: dict, key: Path, deadline: float) -> None:
    while True:
        res = subprocess.run(["ssh", "-q", "-i", str(key), "-o", "BatchMode=yes", "-o", "ConnectTimeout=3",
                              "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
                              f"root@{instance['ssh_host']}", "true"], capture_output=True, check=False)
        if res.returncode == 0:
            return
        if time.monotonic() > deadline:
            logs = podman("logs", "--tail", "30", instance["container"], check=False)
            raise PodmanError(f"containers: {instance['name']}: expected sshd to answer on "
                              f"{instance['ssh_host']}:22 after systemd started; found no answer before the "
                              f"timeout. Container log:\n{logs}")
        time.sleep(1)


def exec_(container: str, command: str, stdin: str | None = None, timeout: int = 120) -> str:
    return podman("exec", "-i", container, "sh", "-c", command, stdin=stdin, timeout=timeout)


def pause(container: str) -> None:
    podman("pause", container)


def unpause(container: str) -> None:
    podman("unpause", container)


def down(state: Path) -> list[str]:
    """Remove every container and network of this state directory's run, by its label."""
    path = state / "containers.json"
    if not path.exists() or shutil.which("podman") is None:
        return []
    data = json.loads(path.read_text())
    label = data["label"]
    names = podman("ps", "-a", "--filter", f"label={label}", "--format", "{{.Names}}", check=False).split()
    if names:
        podman("rm", "-f", "-t", "0", *names, check=False, timeout=120)
    for net in podman("network", "ls", "--filter", f"label={label}", "--format", "{{.Name}}", check=False).split():
        podman("network", "rm", "-f", net, check=False)
    path.unlink()
    return sorted(i["name"] for i in data["instances"] if i["container"] in names)


def left(label: str) -> list[str]:
    """Containers and networks still carrying `label` (a test of down() reads this)."""
    return (podman("ps", "-a", "--filter", f"label={label}", "--format", "{{.Names}}", check=False).split()
            + podman("network", "ls", "--filter", f"label={label}", "--format", "{{.Name}}", check=False).split())
