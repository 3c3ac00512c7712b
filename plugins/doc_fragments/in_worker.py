# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Copyright: contributors to fleet.migration
from __future__ import annotations


class ModuleDocFragment:
    """The action attribute of the modules whose action plugin runs them in Ansible's worker on the controller
    (plugins/plugin_utils/in_worker.py)."""

    DOCUMENTATION = r"""
attributes:
  action:
    description: Indicates this has a corresponding action plugin so some parts of the options can be executed on the controller.
    support: full
    details:
      - On the controller (a local connection, without become or async) the action plugin runs the module's code in
        Ansible's worker process, with no module process; anywhere else the module runs as a module. Both return the
        same result.
"""
