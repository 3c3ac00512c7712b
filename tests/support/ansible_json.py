"""Reading what Ansible's command-line tools print as JSON."""
from __future__ import annotations

import json


def unwrap(value):
    """ansible-inventory marks strings from plugins as unsafe: {"__ansible_unsafe": "x"} -> "x"."""
    if isinstance(value, dict):
        if set(value) == {"__ansible_unsafe"}:
            return value["__ansible_unsafe"]
        return {k: unwrap(v) for k, v in value.items()}
    if isinstance(value, list):
        return [unwrap(v) for v in value]
    return value


def loads(text: str):
    """json.loads of an Ansible tool's output, with unsafe markers removed."""
    return unwrap(json.loads(text))
