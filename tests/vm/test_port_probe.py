"""The port probe shared by firewall_verify and mesh_verify, against local sockets (no VM)."""
from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PROBE = REPO / "roles" / "firewall_verify" / "files" / "port_probe.py"


def _probe(*args: str) -> tuple[int, dict]:
    res = subprocess.run([sys.executable, str(PROBE), *args], capture_output=True, text=True, check=False, timeout=30)
    return res.returncode, json.loads(res.stdout)


def _free_port(kind: int) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def tcp_listener():
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen()
    yield srv.getsockname()[1]
    srv.close()


@pytest.fixture
def udp_echo():
    srv = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    srv.bind(("127.0.0.1", 0))
    srv.settimeout(5)

    def serve():
        try:
            data, peer = srv.recvfrom(512)
            srv.sendto(data or b"x", peer)
        except OSError:
            pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield srv.getsockname()[1]
    srv.close()


def test_tcp_open_and_closed(tcp_listener):
    closed = _free_port(socket.SOCK_STREAM)
    rc, out = _probe("--host", "127.0.0.1", "--tcp", f"{tcp_listener},{closed}", "--timeout", "2")
    assert rc == 0
    assert out["tcp"]["open"] == [tcp_listener]
    assert out["tcp"]["closed"] == [closed]
    assert str(tcp_listener) in out["tcp"]["latency_ms"]


def test_udp_answered_and_closed(udp_echo):
    closed = _free_port(socket.SOCK_DGRAM)
    rc, out = _probe("--host", "127.0.0.1", "--udp", f"{udp_echo},{closed}", "--timeout", "2")
    assert rc == 0
    assert out["udp"]["answered"] == [udp_echo]
    assert out["udp"]["closed"] == [closed]


def test_port_ranges_are_expanded():
    rc, out = _probe("--host", "127.0.0.1", "--tcp", "1-3,3", "--timeout", "1")
    assert rc == 0
    probed = out["tcp"]["open"] + out["tcp"]["closed"] + out["tcp"]["filtered"]
    assert sorted(probed) == [1, 2, 3]


def test_bad_input_is_reported_as_json():
    rc, out = _probe("--host", "127.0.0.1", "--tcp", "70000")
    assert rc == 2
    assert "not a port" in out["error"]
    rc, out = _probe("--host", "no-such-host.invalid", "--tcp", "22")
    assert rc == 2 and "error" in out


# firewall_verify's default candidates (roles/firewall_verify/defaults/main.yml): about a thousand TCP ports.
def _default_candidates() -> tuple[str, str]:
    import yaml

    defaults = yaml.safe_load((REPO / "roles" / "firewall_verify" / "defaults" / "main.yml").read_text())
    return defaults["firewall_verify_tcp_candidates"], defaults["firewall_verify_udp_candidates"]


def _ports(spec: str) -> list[int]:
    import importlib.util

    spec_ = importlib.util.spec_from_file_location("port_probe_ports", PROBE)
    module = importlib.util.module_from_spec(spec_)
    spec_.loader.exec_module(module)
    return module.parse_ports(spec)


def _dropping_netns_available() -> str:
    """Why a user network namespace with an nftables drop rule cannot be had here ('' when it can)."""
    for tool in ("unshare", "nft"):
        if subprocess.run(["sh", "-c", f"command -v {tool} || test -x /usr/sbin/{tool}"], capture_output=True,
                          check=False).returncode:
            return f"{tool} is not installed"
    res = subprocess.run(["unshare", "-rn", "sh", "-c", "PATH=$PATH:/usr/sbin; nft add table inet t"],
                         capture_output=True, text=True, check=False)
    return "" if res.returncode == 0 else f"unshare -rn + nft does not work here: {res.stderr.strip()[:200]}"


def test_every_port_is_in_flight_at_once_behind_a_dropping_firewall():
    """A firewall that drops costs one timeout for all ports, TCP and UDP together, not one per batch
    (the 200-socket batches made the default surface cost 6 timeouts plus one for UDP: 21 s per host)."""
    why = _dropping_netns_available()
    if why:
        pytest.skip(why)
    tcp, udp = _default_candidates()
    script = (
        "PATH=$PATH:/usr/sbin; ip link set lo up && "
        "nft add table inet t && "
        "nft add chain inet t in '{ type filter hook input priority 0; policy accept; }' && "
        "nft add rule inet t in tcp dport 1-65535 drop && nft add rule inet t in udp dport 1-65535 drop && "
        f"exec {sys.executable} {PROBE} --host 127.0.0.1 --tcp {tcp} --udp {udp} --timeout 2"
    )
    res = subprocess.run(["unshare", "-rn", "sh", "-c", script], capture_output=True, text=True, check=False,
                         timeout=60)
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    assert out["tcp"]["filtered"] == _ports(tcp) and out["tcp"]["open"] == [] == out["tcp"]["closed"]
    assert out["udp"]["silent"] == _ports(udp)
    assert out["seconds"] < 3.5, f"expected one 2 s timeout for every port at once, found {out['seconds']} s"


def test_a_low_descriptor_limit_still_probes_every_port(tcp_listener):
    """Under a hard limit of 128 descriptors the probe falls back to batches and still sees every port."""
    if subprocess.run(["sh", "-c", "command -v prlimit"], capture_output=True, check=False).returncode:
        pytest.skip("prlimit (util-linux) is not installed")
    res = subprocess.run(["prlimit", "--nofile=128:128", sys.executable, str(PROBE), "--host", "127.0.0.1",
                          "--tcp", f"1-1024,{tcp_listener}", "--udp", "1-300", "--timeout", "1"],
                         capture_output=True, text=True, check=False, timeout=60)
    assert res.returncode == 0, res.stdout + res.stderr
    out = json.loads(res.stdout)
    tcp = out["tcp"]["open"] + out["tcp"]["closed"] + out["tcp"]["filtered"]
    assert sorted(tcp) == sorted(set(range(1, 1025)) | {tcp_listener})
    assert tcp_listener in out["tcp"]["open"]
    assert len(out["udp"]["answered"] + out["udp"]["closed"] + out["udp"]["silent"]) == 300
