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


def test_loopback_hosts_give_each_vm_its_own_address_or_refuse_out_of_range():
    import pytest

    assert qemu.loopback_host(None, 3) == "127.0.0.1"
    assert [qemu.loopback_host(10, i) for i in (1, 2, 6)] == ["127.0.0.11", "127.0.0.12", "127.0.0.16"]
    with pytest.raises(ValueError, match=r"loopback base 250 \+ VM index 5 is outside 127.0.0.2-254"):
        qemu.loopback_host(250, 5)


def test_qemu_forwards_ssh_on_the_vm_s_own_loopback_address(tmp_path):
    vm = {"index": 1, "memory": 512, "overlay": "o", "pidfile": "p", "name": "n", "ssh_host": "127.0.0.11", "port": 22}
    argv = qemu.qemu_argv(tmp_path, vm, tmp_path, {"mesh_port": 1, "public_port": 2})
    assert "user,id=mgmt,hostfwd=tcp:127.0.0.11:22-:22" in argv
