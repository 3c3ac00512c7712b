"""Probe TCP and UDP ports of one address and print what answered, as JSON.

Run by the firewall_verify role (from a host outside the target: the
controller, or a probe host on the target's public link) and by mesh_verify
(from each host towards its peers' mesh addresses). Standard library only, so
it runs wherever Ansible's own Python runs.

TCP: a port is "open" when the handshake completes, "closed" when the host
answers with a reset (the host is reachable, nothing listens or the firewall
rejects), "filtered" when nothing answers within the timeout (a firewall
drop, or the host is unreachable).

UDP cannot be told apart the same way: a port that is open but stays silent
looks exactly like a dropped one. A datagram is sent to each port; the port is
"answered" when data comes back, "closed" when an ICMP port-unreachable comes
back, and "silent" otherwise.

    python3 port_probe.py --host ADDR [--tcp 1-1024,8080] [--udp 53,123] [--timeout 2]

Many targets in one run (mesh_verify: one invocation per host for all its
peers, so a fleet of n hosts costs n Ansible tasks, not n * (n - 1)):

    python3 port_probe.py --targets '{"peer1": "ADDR1", "peer2": "ADDR2"}' --tcp 22 [--max-parallel 16]

Each target is probed on the given TCP ports in its own thread, at most
--max-parallel at once (bounded fan-out: a large fleet does not open
hundreds of sockets and threads at once on a small host). The output is
{"targets": [{"name", "address", "reachable", "latency_ms", "error", "tcp"}],
"max_parallel", "seconds"}; "reachable" is true when any port answered with a
handshake or a reset.
"""
from __future__ import annotations

import argparse
import concurrent.futures
import errno
import json
import selectors
import socket
import sys
import time

try:
    import resource
except ImportError:  # not POSIX: keep the small batches
    resource = None  # type: ignore[assignment]

# A filtered port costs the whole timeout, so each batch of sockets beyond the
# first adds one timeout to the probe: keep every port in flight at once when
# the descriptor limit allows (macOS's default soft limit is 256, Linux's 1024).
SPARE_FDS = 64  # for Python itself and the selectors
MIN_BATCH = 16


def batch_size(needed: int) -> int:
    """How many sockets to keep in flight: all ``needed`` when the soft
    descriptor limit allows it or can be raised to (never above the hard limit)."""
    if resource is None:
        return max(MIN_BATCH, min(needed, 200))
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = needed + SPARE_FDS
    if soft != resource.RLIM_INFINITY and soft < want:
        target = want if hard == resource.RLIM_INFINITY else min(want, hard)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):  # e.g. macOS above kern.maxfilesperproc
            pass
    if soft == resource.RLIM_INFINITY:
        return max(needed, 1)
    return max(MIN_BATCH, min(needed, soft - SPARE_FDS))


def parse_ports(spec: str) -> list[int]:
    ports: set[int] = set()
    for part in filter(None, (p.strip() for p in spec.split(","))):
        if "-" in part:
            low, high = (int(x) for x in part.split("-", 1))
            ports.update(range(low, high + 1))
        else:
            ports.add(int(part))
    bad = [p for p in ports if not 0 < p < 65536]
    if bad:
        raise ValueError(f"not a port: {bad}")
    return sorted(ports)


def family_of(host: str) -> tuple[int, tuple]:
    info = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)[0]
    return info[0], info[4]


def probe_tcp(host: str, ports: list[int], timeout: float, batch: int | None = None) -> dict[str, object]:
    family, sockaddr = family_of(host)
    result: dict[str, object] = {"open": [], "closed": [], "filtered": [], "latency_ms": {}}
    batch = batch or batch_size(len(ports))
    for start in range(0, len(ports), batch):
        sel = selectors.DefaultSelector()
        began: dict[int, float] = {}
        for port in ports[start:start + batch]:
            sock = socket.socket(family, socket.SOCK_STREAM)
            sock.setblocking(False)
            addr = (sockaddr[0], port) + tuple(sockaddr[2:])
            began[port] = time.monotonic()
            err = sock.connect_ex(addr)
            if err not in (0, errno.EINPROGRESS, errno.EWOULDBLOCK):
                result["closed" if err == errno.ECONNREFUSED else "filtered"].append(port)
                sock.close()
                continue
            sel.register(sock, selectors.EVENT_WRITE, port)
        deadline = time.monotonic() + timeout
        while sel.get_map() and time.monotonic() < deadline:
            for key, _events in sel.select(timeout=max(0.0, deadline - time.monotonic())):
                sock, port = key.fileobj, key.data
                err = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if err == 0:
                    result["open"].append(port)
                    result["latency_ms"][str(port)] = round((time.monotonic() - began[port]) * 1000, 1)
                elif err == errno.ECONNREFUSED:
                    result["closed"].append(port)
                    result["latency_ms"][str(port)] = round((time.monotonic() - began[port]) * 1000, 1)
                else:
                    result["filtered"].append(port)
                sel.unregister(sock)
                sock.close()
        for key in list(sel.get_map().values()):
            result["filtered"].append(key.data)
            sel.unregister(key.fileobj)
            key.fileobj.close()
        sel.close()
    for state in ("open", "closed", "filtered"):
        result[state] = sorted(result[state])
    return result


def probe_udp(host: str, ports: list[int], timeout: float, batch: int | None = None) -> dict[str, list[int]]:
    family, sockaddr = family_of(host)
    result: dict[str, list[int]] = {"answered": [], "closed": [], "silent": []}
    batch = batch or batch_size(len(ports))
    for start in range(0, len(ports), batch):
        sel = selectors.DefaultSelector()
        for port in ports[start:start + batch]:
            sock = socket.socket(family, socket.SOCK_DGRAM)
            sock.setblocking(False)
            # connect() makes the kernel report ICMP port-unreachable as ECONNREFUSED.
            sock.connect((sockaddr[0], port) + tuple(sockaddr[2:]))
            try:
                sock.send(b"\x00")
            except OSError:
                result["closed"].append(port)
                sock.close()
                continue
            sel.register(sock, selectors.EVENT_READ, port)
        deadline = time.monotonic() + timeout
        while sel.get_map() and time.monotonic() < deadline:
            for key, _events in sel.select(timeout=max(0.0, deadline - time.monotonic())):
                sock, port = key.fileobj, key.data
                try:
                    sock.recv(512)
                    result["answered"].append(port)
                except ConnectionRefusedError:
                    result["closed"].append(port)
                except OSError:
                    result["silent"].append(port)
                sel.unregister(sock)
                sock.close()
        for key in list(sel.get_map().values()):
            result["silent"].append(key.data)
            sel.unregister(key.fileobj)
            key.fileobj.close()
        sel.close()
    return {state: sorted(ports_) for state, ports_ in result.items()}


def parse_targets(spec: str) -> list[tuple[str, str]]:
    """``{"name": "address"}`` (or a list of addresses, each its own name) as (name, address) pairs."""
    data = json.loads(spec)
    if isinstance(data, list):
        data = {str(a): a for a in data}
    if not isinstance(data, dict) or not all(isinstance(v, str) and v for v in data.values()):
        raise ValueError("--targets: expected a JSON object of name to non-empty address, found %r" % (spec[:200],))
    return sorted(data.items())


def probe_target(name: str, address: str, ports: list[int], timeout: float) -> dict[str, object]:
    """One target of a multi-target run; an error is kept in the row, never raised."""
    row: dict[str, object] = {"name": name, "address": address, "reachable": False, "latency_ms": None,
                              "error": "", "tcp": None}
    try:
        tcp = probe_tcp(address, ports, timeout)
    except (OSError, ValueError) as exc:
        row["error"] = f"{type(exc).__name__}: {exc}"
        return row
    answered = tcp["open"] + tcp["closed"]
    row["tcp"] = tcp
    row["reachable"] = bool(answered)
    latencies = tcp["latency_ms"]
    row["latency_ms"] = min(latencies.values()) if latencies else None
    if not answered:
        row["error"] = f"no answer on tcp {','.join(map(str, ports))} within {timeout:g}s"
    return row


def probe_targets(targets: list[tuple[str, str]], ports: list[int], timeout: float,
                  max_parallel: int) -> list[dict[str, object]]:
    """Every target in parallel, at most ``max_parallel`` in flight; rows in target order."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=max_parallel) as pool:
        futures = [pool.submit(probe_target, name, address, ports, timeout) for name, address in targets]
        return [f.result() for f in futures]


def main_targets(args: argparse.Namespace) -> int:
    started = time.monotonic()
    try:
        if args.max_parallel < 1:
            raise ValueError(f"--max-parallel: expected a positive number, found {args.max_parallel}")
        if args.udp:
            raise ValueError("--targets probes TCP only; probe UDP with --host")
        targets, tcp = parse_targets(args.targets), parse_ports(args.tcp)
        if not tcp:
            raise ValueError("--targets: expected --tcp with at least one port, found none")
    except ValueError as exc:
        print(json.dumps({"targets": [], "error": f"{type(exc).__name__}: {exc}"}))
        return 2
    rows = probe_targets(targets, tcp, args.timeout, args.max_parallel)
    print(json.dumps({"targets": rows, "max_parallel": args.max_parallel,
                      "seconds": round(time.monotonic() - started, 2)}))
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--host")
    which.add_argument("--targets", help='JSON object {"name": "address", ...}: probe them all (TCP only)')
    parser.add_argument("--tcp", default="")
    parser.add_argument("--udp", default="")
    parser.add_argument("--timeout", type=float, default=2.0)
    parser.add_argument("--max-parallel", type=int, default=16, help="targets probed at once (with --targets)")
    args = parser.parse_args()
    if args.targets is not None:
        return main_targets(args)
    started = time.monotonic()
    try:
        tcp, udp = parse_ports(args.tcp), parse_ports(args.udp)
        # Both protocols at once (a silent UDP port costs the whole timeout, as a
        # filtered TCP port does), sharing one budget of descriptors.
        budget = batch_size(len(tcp) + len(udp))
        udp_batch = max(1, min(len(udp), budget // 2)) if udp else 0
        tcp_batch = max(1, budget - udp_batch)
        with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
            tcp_f = pool.submit(probe_tcp, args.host, tcp, args.timeout, tcp_batch) if tcp else None
            udp_f = pool.submit(probe_udp, args.host, udp, args.timeout, udp_batch) if udp else None
            out = {
                "host": args.host,
                "tcp": tcp_f.result() if tcp_f else None,
                "udp": udp_f.result() if udp_f else None,
            }
    except (OSError, ValueError) as exc:
        print(json.dumps({"host": args.host, "error": f"{type(exc).__name__}: {exc}"}))
        return 2
    out["seconds"] = round(time.monotonic() - started, 2)
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
