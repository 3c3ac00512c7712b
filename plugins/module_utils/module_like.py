# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Copyright: contributors to fleet.migration
"""What a module's ``execute`` uses of AnsibleModule.

Why: clan_vars, clan_machine and phase0_check run either as modules (an
AnsibleModule) or in Ansible's worker on the controller, where their action
plugins hand them plugins/plugin_utils/in_worker.py's InWorkerModule. Both
have this shape.
"""
from __future__ import annotations

from typing import Any, NoReturn, Protocol


class ModuleLike(Protocol):
    params: dict[str, Any]
    check_mode: bool
    _diff: bool

    def exit_json(self, **result: Any) -> NoReturn: ...

    def fail_json(self, msg: str, **result: Any) -> NoReturn: ...
