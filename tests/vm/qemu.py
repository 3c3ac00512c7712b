"""Boot and stop the QEMU test VMs that the molecule scenarios run against.

Each VM boots the cached Debian image (tests/vm/build-image.sh) through a
copy-on-write qcow2 overlay, so the cached image is never written to and a
run leaves nothing behind but its state directory.

Every VM has three NICs (names fixed by net.ifnames=0, in this order):
  eth0  QEMU user networking; SSH is forwarded from 127.0.0.1:<random port>.
  eth1  the "mesh": a QEMU multicast socket network shared by all VMs of the
        run. It stands in for the ZeroTier interface; ZeroTier itself is not
        run here.
  eth2  the "public" link: a second multicast socket network. Firewall probes
        "from outside" travel over it (user networking cannot tell a closed
        port from an open one: its port forward accepts every connection).

The mesh and public addresses are random IPv6 ULA prefixes chosen per run and
handed to Ansible as host facts (state-dir/instances.json), the way the clan
inventory hands real hosts their ZeroTier address: nothing in roles or
playbooks spells an address.

    python3 tests/vm/qemu.py up --state-dir DIR --names node1,node2   # prints instances JSON
    python3 tests/vm/qemu.py down --state-dir DIR
"""
from __future__ import annotations

import argparse
import ipaddress
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
BUILDER = HERE / "build-image.sh"
MCAST_GROUP = "230.0.0.1"  # only ever bound to 127.0.0.1: never leaves the host


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    """A port the kernel just considered free (tiny race accepted: tests only)."""
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def ula_prefix() -> ipaddress.IPv6Network:
    """A random RFC 4193 /64, e.g. fd3c:91aa:7be:1::/64."""
    raw = b"\xfd" + secrets.token_bytes(5) + b"\x00\x01" + bytes(8)
    return ipaddress.IPv6Network((raw, 64))


def host_address(prefix: str, index: int) -> str:
    """The index-th address of a /64 in canonical text form, as `ip` prints it."""
    return str(ipaddress.IPv6Network(prefix)[index])


def accelerator() -> list[str]:
    """TCG unless FLEET_VM_ACCEL says otherwise.

    TCG is slower but works anywhere. KVM is opt-in (FLEET_VM_ACCEL=kvm)
    because a nested /dev/kvm can exist and still hang the guest, as it does
    on the machine these tests were written on.
    """
    accel = os.environ.get("FLEET_VM_ACCEL", "tcg")
    if accel == "tcg":
        # TCG's translation cache defaults to 1 GiB per VM; 128 MiB keeps two
        # VMs near 1.1 GB of RAM at no visible cost in speed here.
        return ["-accel", f"tcg,tb-size={os.environ.get('FLEET_VM_TB_SIZE', '128')}", "-cpu", "max"]
    # FLEET_VM_CPU: e.g. "host,-arch-capabilities" where the host CPU model
    # carries an MSR the nested hypervisor refuses (MSR 0x10a here).
    return ["-accel", accel, "-cpu", os.environ.get("FLEET_VM_CPU", "host")]


def build_image() -> Path:
    res = subprocess.run([str(BUILDER)], capture_output=True, text=True, check=False)
    if res.returncode:
        sys.exit(f"qemu.py: image build failed (rc={res.returncode}):\n{res.stderr[-4000:]}")
    return Path(res.stdout.strip().splitlines()[-1])


def mac(vm_index: int, nic: int) -> str:
    return f"52:54:00:{vm_index:02x}:{nic:02x}:01"


def qemu_argv(image: Path, vm: dict, state: Path, net: dict) -> list[str]:
    idx = vm["index"]
    return [
        "qemu-system-x86_64",
        *accelerator(),
        "-smp", "1",
        "-m", str(vm["memory"]),
        "-kernel", str(image / "vmlinuz"),
        "-initrd", str(image / "initrd.img"),
        "-append", "root=/dev/vda rw console=ttyS0 net.ifnames=0 quiet systemd.show_status=0",
        "-drive", f"file={vm['overlay']},if=virtio,format=qcow2",
        "-netdev", f"user,id=mgmt,hostfwd=tcp:{vm.get('ssh_host', '127.0.0.1')}:{vm['port']}-:22",
        "-device", f"virtio-net-pci,netdev=mgmt,mac={mac(idx, 0)}",
        "-netdev", f"socket,id=mesh,mcast={MCAST_GROUP}:{net['mesh_port']},localaddr=127.0.0.1",
        "-device", f"virtio-net-pci,netdev=mesh,mac={mac(idx, 1)}",
        "-netdev", f"socket,id=public,mcast={MCAST_GROUP}:{net['public_port']},localaddr=127.0.0.1",
        "-device", f"virtio-net-pci,netdev=public,mac={mac(idx, 2)}",
        "-display", "none",
        "-serial", f"file:{state / (vm['name'] + '.console.log')}",
        "-pidfile", str(vm["pidfile"]),
        "-daemonize",
    ]


def ssh_ready(vm: dict, key: Path) -> bool:
    res = subprocess.run(
        ["ssh", "-q", "-i", str(key), "-p", str(vm["port"]),
         "-o", "BatchMode=yes", "-o", "ConnectTimeout=5",
         "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
         f"root@{vm.get('ssh_host', '127.0.0.1')}", "systemctl is-system-running --wait >/dev/null 2>&1; true"],
        capture_output=True, text=True, check=False, timeout=120,
    )
    return res.returncode == 0


def loopback_host(base: int | None, index: int) -> str:
    """127.0.0.1, or with a base one loopback address per VM (127.0.0.<base+index>):
    every VM then answers SSH on port 22 of its own address, as a real host does,
    so tools that take `user@host` without a port (clan's --target-host) reach it."""
    if base is None:
        return "127.0.0.1"
    if not 1 < base + index < 255:
        raise ValueError(f"loopback base {base} + VM index {index} is outside 127.0.0.2-254")
    return f"127.0.0.{base + index}"


def up(state: Path, names: list[str], memory: int, timeout: int, loopback_base: int | None = None) -> dict:
    state.mkdir(parents=True, exist_ok=True)
    image = build_image()
    net = {
        "mesh_port": free_port(socket.SOCK_DGRAM),
        "public_port": free_port(socket.SOCK_DGRAM),
        "mesh_prefix": str(ula_prefix()),
        "public_prefix": str(ula_prefix()),
    }
    vms = []
    started = time.monotonic()
    for index, name in enumerate(names, start=1):
        overlay = state / f"{name}.qcow2"
        overlay.unlink(missing_ok=True)
        subprocess.run(
            ["qemu-img", "create", "-q", "-f", "qcow2", "-F", "qcow2", "-b", str(image / "rootfs.qcow2"), str(overlay)],
            check=True,
        )
        vm = {
            "name": name,
            "index": index,
            "memory": memory,
            "ssh_host": loopback_host(loopback_base, index),
            "port": 22 if loopback_base is not None else free_port(),
            "overlay": str(overlay),
            "pidfile": str(state / f"{name}.pid"),
            "mesh_address": host_address(net["mesh_prefix"], index),
            "public_address": host_address(net["public_prefix"], index),
        }
        res = subprocess.run(qemu_argv(image, vm, state, net), capture_output=True, text=True, check=False)
        if res.returncode:
            down(state)
            sys.exit(f"qemu.py: {name} did not start: {res.stderr.strip()}")
        vms.append(vm)
    key = image / "id_ed25519"
    pending = list(vms)
    while pending:
        if time.monotonic() - started > timeout:
            names_left = ", ".join(v["name"] for v in pending)
            down(state)
            sys.exit(f"qemu.py: no SSH from {names_left} within {timeout}s; see {state}/<name>.console.log")
        pending = [vm for vm in pending if not ssh_ready(vm, key)]
        if pending:
            time.sleep(2)
    result = {
        "image": str(image),
        "identity_file": str(key),
        "boot_seconds": round(time.monotonic() - started, 1),
        "network": net,
        "instances": vms,
    }
    (state / "instances.json").write_text(json.dumps(result, indent=2))
    return result


def down(state: Path) -> list[str]:
    """Stop the VMs this state directory started (by their pid files only)."""
    stopped = []
    for pidfile in sorted(state.glob("*.pid")):
        try:
            pid = int(pidfile.read_text().strip())
            os.kill(pid, signal.SIGTERM)
            for _attempt in range(50):
                os.kill(pid, 0)
                time.sleep(0.1)
            os.kill(pid, signal.SIGKILL)
        except (ValueError, ProcessLookupError, FileNotFoundError):
            pass
        stopped.append(pidfile.stem)
        pidfile.unlink(missing_ok=True)
    for overlay in state.glob("*.qcow2"):
        overlay.unlink()
    (state / "instances.json").unlink(missing_ok=True)
    return stopped


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="cmd", required=True)
    p_up = sub.add_parser("up")
    p_up.add_argument("--state-dir", required=True, type=Path)
    p_up.add_argument("--names", required=True, help="comma-separated VM names")
    p_up.add_argument("--memory", type=int, default=int(os.environ.get("FLEET_VM_MEMORY", "512")))
    p_up.add_argument("--timeout", type=int, default=int(os.environ.get("FLEET_VM_BOOT_TIMEOUT", "420")))
    p_up.add_argument("--loopback-base", type=int, default=None,
                      help="give VM i the address 127.0.0.<base+i> with SSH on port 22")
    p_down = sub.add_parser("down")
    p_down.add_argument("--state-dir", required=True, type=Path)
    args = parser.parse_args()
    if args.cmd == "up":
        for tool in ("qemu-system-x86_64", "qemu-img", "ssh"):
            if shutil.which(tool) is None:
                sys.exit(f"qemu.py: {tool} is not installed (apt-get install qemu-system-x86 qemu-utils openssh-client)")
        print(json.dumps(up(args.state_dir, args.names.split(","), args.memory, args.timeout, args.loopback_base)))
    else:
        print(json.dumps({"stopped": down(args.state_dir)}))


if __name__ == "__main__":
    main()
