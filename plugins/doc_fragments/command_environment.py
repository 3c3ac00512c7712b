# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Copyright: Fleet migration control plane maintainers
from __future__ import annotations


class ModuleDocFragment:
    """The environment options of the modules that run their CLI through module_utils/runner.py."""

    DOCUMENTATION = r"""
options:
  environment:
    description:
      - Extra environment variables for the commands, added to the inherited environment.
      - Not secret. The values show up in the task's logged arguments; put secrets in O(secret_environment).
    type: dict
    default: {}
  secret_environment:
    description:
      - Extra environment variables whose values are secret, for example C(SOPS_AGE_KEY) or
        C(NIX_CONFIG="access-tokens = github.com=...").
      - The values never appear in logs, results or error messages (C(no_log), and the runner replaces them by C(********)).
        Entries here override O(environment) entries of the same name.
    type: dict
    default: {}
"""
