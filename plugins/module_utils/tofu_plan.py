# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Copyright: Fleet migration control plane maintainers
"""Pure helpers for the terraform module: plan summaries, protection and encryption checks.

Kept apart from the module so they are unit-tested without running tofu.
Standard library only.
"""
from __future__ import annotations

import fnmatch
import glob
import json
import os
import re

# jsonplan (internal/command/jsonplan/plan.go) encodes replace as
# ["delete", "create"] or ["create", "delete"].
ACTION_NAMES = {
    ("create",): "create",
    ("update",): "update",
    ("delete",): "delete",
    ("delete", "create"): "replace",
    ("create", "delete"): "replace",
    ("read",): "read",
    ("no-op",): "no-op",
}


def summarize(plan: dict) -> dict:
    """Counts and per-resource actions from `show -json` output."""
    resources = []
    counts = dict(creates=0, updates=0, deletes=0, replaces=0)
    for change in plan.get("resource_changes") or []:
        actions = tuple((change.get("change") or {}).get("actions") or ())
        action = ACTION_NAMES.get(actions, "/".join(actions))
        if action == "no-op" or change.get("mode") == "data":
            continue
        resources.append(dict(address=change.get("address"), type=change.get("type"), name=change.get("name"),
                              action=action, actions=list(actions)))
        if action == "create":
            counts["creates"] += 1
        elif action == "update":
            counts["updates"] += 1
        elif action == "delete":
            counts["deletes"] += 1
        elif action == "replace":
            counts["replaces"] += 1
    counts["resources"] = resources
    counts["changed"] = bool(resources)
    return counts


def destroys(summary: dict) -> list[str]:
    """Addresses the plan deletes, replaced resources included."""
    return [r["address"] for r in summary["resources"] if "delete" in r["actions"]]


def _base_address(address: str) -> str:
    # module.x.hcloud_server.cinnabar[0] -> match patterns with or without the index.
    return re.sub(r"\[[^\]]*\]$", "", address)


def protected_hits(addresses: list[str], patterns: list[str]) -> list[str]:
    """Addresses matching any protected pattern (exact address, address without index, or shell glob)."""
    hits = []
    for address in addresses:
        if any(_matches(address, pattern) for pattern in patterns):
            hits.append(address)
    return hits


def _matches(address: str, pattern: str) -> bool:
    return address == pattern or _base_address(address) == pattern or fnmatch.fnmatchcase(address, pattern)


def unmatched_patterns(patterns: list[str], addresses: list[str]) -> list[str]:
    """Protected names that match none of `addresses`: a typo there would protect nothing, so it is an error."""
    return [p for p in patterns if not any(_matches(a, p) for a in addresses)]


def config_addresses(doc: dict) -> list[str]:
    """`type.name` of every managed resource of a .tf.json document (count/for_each instances unexpanded)."""
    found = []
    for resource in _blocks(doc.get("resource")):
        for rtype, named in resource.items():
            for name in (named or {}):
                found.append("%s.%s" % (rtype, name))
    return found


def plan_addresses(plan: dict) -> list[str]:
    """Every resource instance a `show -json` plan knows: its resource_changes (no-ops included) and prior state."""
    found = [c.get("address") for c in plan.get("resource_changes") or [] if c.get("address")]
    prior = ((plan.get("prior_state") or {}).get("values") or {}).get("root_module") or {}
    found += [r.get("address") for r in _state_resources(prior) if r.get("address")]
    return found


def _state_resources(module: dict) -> list[dict]:
    """Resources of a jsonstate module (internal/command/jsonstate/state.go), child modules included."""
    resources = [r for r in module.get("resources") or [] if r.get("mode", "managed") == "managed"]
    for child in module.get("child_modules") or []:
        resources += _state_resources(child)
    return resources


# What costs money while it exists, per provider type, and where its size is. Disks are inside
# google_compute_instance.boot_disk; static addresses are billed while reserved.
COMPUTE_TYPES = {"google_compute_instance": "machine_type", "hcloud_server": "server_type"}
BILLABLE_TYPES = set(COMPUTE_TYPES) | {"google_compute_address", "google_compute_disk", "hcloud_primary_ip",
                                       "hcloud_volume", "hcloud_floating_ip"}


def _node_of(resource: dict) -> str:
    values = resource.get("values") or {}
    labels = values.get("labels") or {}
    return labels.get("clan-machine") or values.get("name") or resource.get("name") or ""


def running_machines(state: dict) -> list[dict]:
    """Machines in a `show -json` state: node, address, machine type and accelerators, sorted by node."""
    root = (state.get("values") or {}).get("root_module") or {}
    machines = []
    for res in _state_resources(root):
        size_key = COMPUTE_TYPES.get(res.get("type"))
        if not size_key:
            continue
        values = res.get("values") or {}
        accelerators = [dict(type=a.get("type"), count=a.get("count", 1))
                        for a in values.get("guest_accelerator") or [] if isinstance(a, dict)]
        machines.append(dict(node=_node_of(res), address=res.get("address"), type=res.get("type"),
                             machine_type=values.get(size_key), accelerators=accelerators))
    return sorted(machines, key=lambda m: (m["node"], m["address"]))


def billable_resources(state: dict) -> dict:
    """{node: [addresses]} of the billable resources in a `show -json` state."""
    root = (state.get("values") or {}).get("root_module") or {}
    found: dict = {}
    for res in _state_resources(root):
        if res.get("type") in BILLABLE_TYPES:
            found.setdefault(_node_of(res), []).append(res.get("address"))
    return {node: sorted(addresses) for node, addresses in sorted(found.items())}


def prevent_destroy_addresses(config_path: str) -> list[str]:
    """`type.name` of resources with lifecycle.prevent_destroy in a .tf.json file (none if unreadable).

    Read from the config that is about to be replaced: when a new terranix render drops such a resource
    altogether, tofu no longer sees the lifecycle block and would destroy it.
    """
    try:
        with open(config_path, encoding="utf-8") as handle:
            doc = json.load(handle)
    except (OSError, ValueError):
        return []
    found = []
    for resource in _blocks(doc.get("resource")):
        for rtype, named in resource.items():
            for name, body in (named or {}).items():
                for block in _blocks(body):
                    for lifecycle in _blocks(block.get("lifecycle")):
                        if lifecycle.get("prevent_destroy") is True:
                            found.append("%s.%s" % (rtype, name))
    return found


def _blocks(value) -> list[dict]:
    """HCL JSON allows a block as an object or a list of objects."""
    if isinstance(value, list):
        return [v for v in value if isinstance(v, dict)]
    return [value] if isinstance(value, dict) else []


def _state_target_ok(encryption: dict) -> tuple[bool, str]:
    for enc in _blocks(encryption):
        for state in _blocks(enc.get("state")):
            if not state.get("method"):
                return False, "terraform.encryption.state has no method"
            if state.get("enforced") is not True:
                return False, "terraform.encryption.state.enforced is not true"
            return True, "OpenTofu state encryption (enforced)"
    return False, "terraform.encryption has no state block"


_HCL_ENCRYPTION = re.compile(r"\bencryption\s*\{")
_HCL_STATE_ENFORCED = re.compile(r"\bstate\s*\{[^}]*\benforced\s*=\s*true", re.S)


def encryption_status(project_path: str, env: dict, backend_config: dict | None = None) -> tuple[bool, str]:
    """Whether state encryption is configured: (ok, what was found).

    Accepted: a terraform.encryption block with a state {method, enforced = true} in a .tf.json or .tf file,
    or in TF_ENCRYPTION; or a backend that encrypts (s3 encrypt = true, gcs with a customer or KMS key).
    """
    findings = []
    tf_encryption = env.get("TF_ENCRYPTION")
    if tf_encryption:
        try:
            ok, what = _state_target_ok(json.loads(tf_encryption))
        except ValueError:
            ok = bool(_HCL_STATE_ENFORCED.search(tf_encryption))
            what = "TF_ENCRYPTION (HCL) with an enforced state block" if ok else \
                "TF_ENCRYPTION (HCL) without an enforced state block"
        if ok:
            return True, "TF_ENCRYPTION: " + what
        findings.append("TF_ENCRYPTION: " + what)
    backend_found = False
    for path in sorted(glob.glob(os.path.join(project_path, "*.tf.json"))):
        try:
            with open(path, encoding="utf-8") as handle:
                doc = json.load(handle)
        except (OSError, ValueError) as exc:
            findings.append("%s unreadable (%s)" % (os.path.basename(path), exc))
            continue
        for terraform in _blocks(doc.get("terraform")):
            if "encryption" in terraform:
                ok, what = _state_target_ok(terraform["encryption"])
                if ok:
                    return True, "%s: %s" % (os.path.basename(path), what)
                findings.append("%s: %s" % (os.path.basename(path), what))
            for backend in _blocks(terraform.get("backend")):
                for kind, settings in backend.items():
                    backend_found = True
                    merged = dict(settings or {})
                    merged.update(backend_config or {})
                    if encrypted_backend(kind, merged):
                        return True, "%s: encrypted %s backend" % (os.path.basename(path), kind)
                    findings.append("%s: %s backend without encryption" % (os.path.basename(path), kind))
    for path in sorted(glob.glob(os.path.join(project_path, "*.tf"))):
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
        if _HCL_ENCRYPTION.search(text):
            if _HCL_STATE_ENFORCED.search(text):
                return True, "%s: OpenTofu state encryption (enforced)" % os.path.basename(path)
            findings.append("%s: encryption block without an enforced state block" % os.path.basename(path))
    if not backend_found:
        findings.append("local backend (plaintext terraform.tfstate)")
    return False, "; ".join(findings) if findings else "no encryption configuration"


def _truthy(value) -> bool:
    return value is True or str(value).lower() in ("true", "1", "yes")


def encrypted_backend(kind: str, settings: dict) -> bool:
    if kind == "s3":
        return _truthy(settings.get("encrypt"))
    if kind == "gcs":
        return bool(settings.get("kms_encryption_key") or settings.get("encryption_key"))
    return False
