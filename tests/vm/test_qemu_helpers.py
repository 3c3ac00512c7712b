"""tests/vm/qemu.py's address helpers (no VM)."""
from __future__ import annotations

import ipaddress

import qemu  # pytest puts this directory on sys.path


def test_ula_prefixes_are_random_rfc4193_64s():
    prefixes = {qemu.ula_prefix() for _attempt in range(50)}
    assert len(prefixes) == 50
    for prefix in prefixes:
        assert prefix.prefixlen == 64
        assert prefix.subnet_of(ipaddress.IPv6Network("fd00::/8"))


def test_host_addresses_are_canonical_like_ip_prints_them():
    # `ip -6 addr` prints canonical text; a non-canonical address (leading
    # zeros) made converge's wait for the address time out.
    for _attempt in range(200):
        prefix = str(qemu.ula_prefix())
        for index in (1, 2, 3):
            address = qemu.host_address(prefix, index)
            assert address == str(ipaddress.IPv6Address(address))
            assert ipaddress.IPv6Address(address) in ipaddress.IPv6Network(prefix)
            assert address.endswith(f"::{index}")
