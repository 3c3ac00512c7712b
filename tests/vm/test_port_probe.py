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
