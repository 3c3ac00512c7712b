# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Copyright: contributors to fleet.migration
"""Action fleet.migration.clan_machine: the module runs in Ansible's worker when it runs on the controller.

Why: the playbooks delegate clan_machine to localhost once per host and deploy; a module
process for each cost about half a CPU-second of AnsiballZ start-up
(plugins/plugin_utils/in_worker.py). Elsewhere (another host, become, async)
the module runs as a module. The documentation and the work are the module's
(plugins/modules/clan_machine.py).
"""
from __future__ import annotations

from ansible_collections.fleet.migration.plugins.modules import clan_machine
from ansible_collections.fleet.migration.plugins.plugin_utils.in_worker import ControllerModuleAction


class ActionModule(ControllerModuleAction):
    MODULE = "fleet.migration.clan_machine"
    SPEC = clan_machine.ARGUMENT_SPEC
    EXECUTE = staticmethod(clan_machine.execute)
