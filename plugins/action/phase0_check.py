# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Copyright: contributors to fleet.migration
"""Action fleet.migration.phase0_check: the module runs in Ansible's worker when it runs on the controller.

Why: playbooks/phase0.yml runs it on the controller, where a module process
cost about a third of a second of AnsiballZ start-up out of issue 13's 3 s
for the whole of Phase 0 (plugins/plugin_utils/in_worker.py). Elsewhere
(another host, become, async) the module runs as a module. The documentation
and the work are the module's (plugins/modules/phase0_check.py).
"""
from __future__ import annotations

from ansible_collections.fleet.migration.plugins.modules import phase0_check
from ansible_collections.fleet.migration.plugins.plugin_utils.in_worker import ControllerModuleAction


class ActionModule(ControllerModuleAction):
    MODULE = "fleet.migration.phase0_check"
    SPEC = phase0_check.ARGUMENT_SPEC
    EXECUTE = staticmethod(phase0_check.execute)
