# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Copyright: contributors to fleet.migration
"""Filter fleet.migration.mesh_peers: a host's mesh peers and their addresses.

Why a filter: the same work as a Jinja loop in mesh_verify's vars was
templated per host and per reference, O(n) template operations each time;
at 100 hosts it was a large part of the role's cost.
"""

from __future__ import annotations

from typing import Any, Mapping

from ansible_collections.fleet.migration.plugins.module_utils import mesh


def mesh_peers(addresses: Mapping[str, Any], scope: list[str], host: str, hostvars: Any = None,
               address_var: str = "fleet_mesh_address") -> dict[str, str]:
    """{peer: address or ''} for every host of ``scope`` but ``host``; see mesh.peers_of."""

    def lookup(peer: str) -> str:
        # Only for a scope host missing from the play's map: a hostvars read
        # resolves that host's variables, which is what the map saves.
        if hostvars is None:
            return ""
        try:
            return hostvars[peer].get(address_var) or ""
        except KeyError:
            return ""

    return mesh.peers_of(host, scope, addresses or {}, lookup)


class FilterModule:
    def filters(self) -> dict:
        return {"mesh_peers": mesh_peers}
