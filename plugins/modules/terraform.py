#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Copyright: Fleet migration control plane maintainers
from __future__ import annotations

DOCUMENTATION = r"""
---
module: terraform
short_description: Plan, apply and destroy OpenTofu (or Terraform) projects rendered by terranix, with safety checks
description:
  - Runs C(init), C(workspace), C(plan -detailed-exitcode), C(show -json) and C(apply) in O(project_path),
    with OpenTofu (C(tofu)) by default.
  - Returns a structured plan summary (creates, updates, deletes, replaces, per resource) read from C(show -json).
    Switching a terranix node on or off shows up as a create or a delete of its resources.
  - O(state=planned) and check mode only plan. O(state=present) applies the saved plan when it has changes.
    O(state=absent) plans with C(-destroy) and applies that plan.
  - Refuses to apply or destroy when state encryption is not configured (O(require_state_encryption)).
    It accepts a C(terraform.encryption) block with C(state.enforced = true), C(TF_ENCRYPTION), or an encrypting backend.
  - Refuses any plan that deletes or replaces a resource matching O(protected_resources), unless
    O(force_destroy_protected=true). A protected name that matches no resource of the configuration or the state is
    an error, because a misspelt name would protect nothing.
  - Fails closed. Every plan is made in a scratch copy of O(project_path). Nothing is written into the project
    (render, lock file, C(.terraform), workspace) until the encryption and protection checks have passed, so a
    refused plan leaves the previous render and workspace as they were and a plain rerun refuses again.
  - Reports the machines running after the run (RV(running)) and the billable resources per node (RV(billable)),
    read from the state with C(show -json).
version_added: "0.1.0"
author:
  - Fleet migration control plane maintainers (@cameronraysmith)
options:
  project_path:
    description: Directory holding the configuration (C(*.tf.json)) and the local state.
    type: path
    required: true
  config_json:
    description:
      - Path of the terranix output (C(nix eval --json .#terranix.<cloud>) written to a file).
      - It is planned in a scratch copy of the project and copied to C(<project_path>/config.tf.json) only once the
        plan has passed every check and is about to be applied. O(state=planned) and check mode never copy it.
    type: path
  binary:
    description: The OpenTofu or Terraform executable.
    type: str
    default: tofu
  state:
    description: C(planned) only plans; C(present) applies; C(absent) destroys.
    type: str
    choices: [planned, present, absent]
    default: present
  plan_file:
    description: Where to keep the plan; by default a file in the scratch copy, removed afterwards.
    type: path
  targets:
    description: Resource addresses for C(-target).
    type: list
    elements: str
    default: []
  variables_files:
    description: Variable files (C(-var-file)), applied in order.
    type: list
    elements: path
    default: []
    aliases: [variables_file]
  variables:
    description:
      - Variables passed as C(-var NAME=VALUE). They appear on the command line and in the returned RV(command), so
        put secret values in O(sensitive_variables) instead.
    type: dict
    default: {}
  sensitive_variables:
    description:
      - Secret variables (state passphrase, API tokens). Each is handed to the binary as the environment variable
        C(TF_VAR_<NAME>), never on the command line, and its value is removed from every output, error and log.
      - A value that is a list, dict or bool is passed as JSON, as tofu expects for complex C(TF_VAR_) values.
    type: dict
    default: {}
  workspace:
    description: Workspace to select; created when missing (in check mode and O(state=planned) only in the scratch copy).
    type: str
    default: default
  backend_config:
    description: Backend settings passed to C(init) as C(-backend-config=KEY=VALUE); values are kept out of logs.
    type: dict
    default: {}
  backend_config_files:
    description: Backend configuration files passed to C(init) as C(-backend-config=PATH).
    type: list
    elements: path
    default: []
  init_reconfigure:
    description: Pass C(-reconfigure) to C(init).
    type: bool
    default: false
  force_init:
    description: Run C(init) even when O(project_path)/.terraform exists (it always runs when it does not).
    type: bool
    default: false
  provider_upgrade:
    description: Pass C(-upgrade) to C(init).
    type: bool
    default: false
  protected_resources:
    description:
      - Addresses (C(hcloud_server.cinnabar)), addresses without index, or shell patterns (C(hcloud_server.*))
        that must never be deleted or replaced.
      - Resources that have C(lifecycle.prevent_destroy) in the project's current C(config.tf.json) are added
        when O(config_json) replaces it. A new render that drops such a resource entirely would otherwise
        destroy it, because tofu no longer sees the lifecycle block.
    type: list
    elements: str
    default: []
  force_destroy_protected:
    description: Allow deleting or replacing protected resources.
    type: bool
    default: false
  check_destroy:
    description: Fail when the plan deletes or replaces anything, protected or not (like community.general.terraform).
    type: bool
    default: false
  require_state_encryption:
    description: Refuse to apply or destroy unless state encryption is configured.
    type: bool
    default: true
  lock:
    description: Use state locking.
    type: bool
    default: true
  lock_timeout:
    description: Seconds to wait for a state lock.
    type: int
  parallelism:
    description: Limit of concurrent operations (C(-parallelism)).
    type: int
  timeout:
    description: Seconds after which a command is stopped and the module fails.
    type: int
    default: 3600
  environment:
    description:
      - Extra environment variables, for example provider credentials such as C(HCLOUD_TOKEN).
      - Values are treated as secrets. Ansible masks every occurrence of each value in the result, so a short
        non-secret value (C(TF_LOG=1)) would mask unrelated text as well. Keep such settings in the task's own
        C(environment) keyword instead.
    type: dict
    default: {}
attributes:
  check_mode:
    description: Plans in a scratch copy and reports the plan; nothing changes on disk or in the tofu workspaces.
    support: full
  diff_mode:
    description: The diff lists each changing resource address with its action.
    support: full
  platform:
    description: Runs on the controller (or wherever the binary and the project are).
    support: full
    platforms: posix
notes:
  - Supports check mode (plan only) and diff mode (the plan summary before and after).
  - Exit codes follow C(-detailed-exitcode). 0 means no changes, 1 an error, 2 changes present.
seealso:
  - module: community.general.terraform
  - name: OpenTofu state and plan encryption
    description: How to configure terraform.encryption.
    link: https://opentofu.org/docs/language/state/encryption/
"""

EXAMPLES = r"""
- name: Provision the Hetzner nodes from the terranix output
  fleet.migration.terraform:
    project_path: "{{ playbook_dir }}/../.cache/terraform/hetzner"
    config_json: "{{ playbook_dir }}/../.cache/terranix/hetzner.tf.json"
    protected_resources: [hcloud_server.cinnabar]
    sensitive_variables:
      state_passphrase: >-
        {{ lookup('ansible.builtin.pipe', 'clan vars get --flake ' ~ fleet_flake ~ ' cinnabar terraform-state/passphrase') }}
    environment:
      HCLOUD_TOKEN: "{{ hcloud_token }}"
  delegate_to: localhost

- name: Show what turning galena on would do
  fleet.migration.terraform:
    project_path: "{{ playbook_dir }}/../.cache/terraform/gcp"
    config_json: "{{ playbook_dir }}/../.cache/terranix/gcp.tf.json"
    state: planned
    sensitive_variables:
      state_passphrase: >-
        {{ lookup('ansible.builtin.pipe', 'clan vars get --flake ' ~ fleet_flake ~ ' cinnabar terraform-state/passphrase') }}
  register: gcp_plan

- name: Destroy a toggleable GPU node explicitly
  fleet.migration.terraform:
    project_path: "{{ playbook_dir }}/../.cache/terraform/gcp"
    state: absent
    targets: [google_compute_instance.scheelite]
    protected_resources: [google_compute_instance.scheelite]
    force_destroy_protected: true
    sensitive_variables:
      state_passphrase: >-
        {{ lookup('ansible.builtin.pipe', 'clan vars get --flake ' ~ fleet_flake ~ ' cinnabar terraform-state/passphrase') }}
"""

RETURN = r"""
changed:
  description: Whether resources changed (in check mode and for planned, whether the plan has changes).
  returned: always
  type: bool
plan:
  description: Summary of the plan from C(show -json).
  returned: when a plan ran
  type: dict
  contains:
    creates:
      description: Number of resources to create.
      type: int
    updates:
      description: Number of resources to update in place.
      type: int
    deletes:
      description: Number of resources to delete.
      type: int
    replaces:
      description: Number of resources to replace (delete and create).
      type: int
    resources:
      description: One entry per changing resource with address, type, name, action and actions.
      type: list
      elements: dict
  sample: {"creates": 1, "updates": 0, "deletes": 0, "replaces": 0,
           "resources": [{"address": "google_compute_instance.galena", "action": "create", "actions": ["create"]}]}
plan_file:
  description: The plan file, when O(plan_file) was given.
  returned: when plan_file is set
  type: str
workspace:
  description: The selected workspace.
  returned: always
  type: str
encryption:
  description: Which state encryption was found.
  returned: always
  type: str
outputs:
  description: C(output -json) after apply; sensitive values are replaced by C(********).
  returned: when applied
  type: dict
config_changed:
  description: Whether O(config_json) differed from the project's config.tf.json (it is installed only when applying).
  returned: when config_json is set
  type: bool
running:
  description: Compute resources in the state after the run, with machine type and accelerators (the cost).
  returned: when a plan ran
  type: list
  elements: dict
  sample: [{"node": "scheelite", "address": "google_compute_instance.scheelite", "type": "google_compute_instance",
            "machine_type": "n1-standard-8", "accelerators": [{"type": "nvidia-tesla-t4", "count": 1}]}]
billable:
  description: Billable resource addresses in the state after the run, per node (C(labels.clan-machine) or name).
  returned: when a plan ran
  type: dict
  sample: {"scheelite": ["google_compute_address.scheelite", "google_compute_instance.scheelite"]}
workspace_created:
  description: Whether the workspace did not exist yet (it is created in the project only when applying).
  returned: when the workspace was missing
  type: bool
protected_resources:
  description: The protected addresses in force, O(protected_resources) plus prevent_destroy resources of the previous config.
  returned: when config_json is set
  type: list
  elements: str
command:
  description: The commands that ran, secrets removed.
  returned: always
  type: list
  elements: str
stdout:
  description: Output of the last plan or apply.
  returned: when a plan ran
  type: str
"""

import filecmp
import json
import os
import shutil
import tempfile

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.fleet.migration.plugins.module_utils.runner import (
    REDACTED,
    CommandError,
    fail_from_error,
    parse_json,
    runner_for,
)
from ansible_collections.fleet.migration.plugins.module_utils.tofu_plan import (
    billable_resources,
    config_addresses,
    destroys,
    encryption_status,
    plan_addresses,
    prevent_destroy_addresses,
    protected_hits,
    running_machines,
    summarize,
    unmatched_patterns,
)

# plan -detailed-exitcode: 0 = no changes, 1 = error, 2 = changes present.
NO_CHANGES = 0
CHANGES = 2
CONFIG_NAME = "config.tf.json"


def var_value(value) -> str:
    """A variable value as tofu reads it from -var or TF_VAR_: complex values (and bools) as JSON."""
    return json.dumps(value) if isinstance(value, (dict, list, bool)) else str(value)


class Tofu:
    """Runs the binary in `workdir`: the scratch copy while planning, the project once the plan is accepted."""

    def __init__(self, module: AnsibleModule, runner, workdir: str) -> None:
        self.module = module
        self.runner = runner
        self.workdir = workdir
        self.commands: list[str] = []
        self.initialized = False

    def run(self, words: list[str], ok_rcs=(0,), hint: str = ""):
        params = self.module.params
        result = self.runner.run([params["binary"]] + words, ok_rcs=ok_rcs, cwd=self.workdir, hint=hint)
        self.commands.append(result.cmd)
        return result

    def common(self) -> list[str]:
        params = self.module.params
        words = ["-lock=%s" % str(params["lock"]).lower()]
        if params["lock_timeout"] is not None:
            words.append("-lock-timeout=%ds" % params["lock_timeout"])
        return words

    def init(self, force: bool = False) -> None:
        params = self.module.params
        if os.path.isdir(os.path.join(self.workdir, ".terraform")) and not (
                force or params["force_init"] or params["init_reconfigure"] or params["provider_upgrade"]):
            return
        words = ["init", "-input=false", "-no-color"]
        for key, value in sorted(params["backend_config"].items()):
            words.append("-backend-config=%s=%s" % (key, value))
        words += ["-backend-config=%s" % path for path in params["backend_config_files"]]
        if params["init_reconfigure"]:
            words.append("-reconfigure")
        if params["provider_upgrade"]:
            words.append("-upgrade")
        self.run(words, hint="fix the backend configuration or provider requirements so that `%s init` succeeds in %s"
                 % (params["binary"], params["project_path"]))
        self.initialized = True

    def workspaces(self) -> tuple[str, list[str]]:
        listed = self.run(["workspace", "list"]).stdout
        names, selected = [], "default"
        for line in listed.splitlines():
            name = line.replace("*", "").strip()
            if name:
                names.append(name)
                if line.strip().startswith("*"):
                    selected = name
        return selected, names

    def plan(self, plan_file: str, destroy: bool):
        params = self.module.params
        words = ["plan", "-input=false", "-no-color", "-detailed-exitcode", "-out=%s" % plan_file] + self.common()
        if destroy:
            words.append("-destroy")
        words += ["-target=%s" % target for target in params["targets"]]
        words += ["-var-file=%s" % path for path in params["variables_files"]]
        for key, value in sorted(params["variables"].items()):
            words.append("-var=%s=%s" % (key, var_value(value)))
        if params["parallelism"] is not None:
            words.append("-parallelism=%d" % params["parallelism"])
        hint = "fix the configuration or variables; `%s plan` in %s shows the same error" % (
            params["binary"], params["project_path"])
        try:
            return self.run(words, ok_rcs=(NO_CHANGES, CHANGES), hint=hint)
        except CommandError as error:
            # A config that gained a provider or module needs init again; tofu says "run: tofu init".
            if self.initialized or "init" not in error.stderr:
                raise
        self.init(force=True)
        return self.run(words, ok_rcs=(NO_CHANGES, CHANGES), hint=hint)

    def show(self, plan_file: str | None = None) -> dict:
        """`show -json PLANFILE` (the plan) or `show -json` (the current state)."""
        words = ["show", "-json", "-no-color"] + ([plan_file] if plan_file else [])
        result = self.run(words)
        return parse_json(result, "the JSON %s of `show -json`" % ("plan" if plan_file else "state"))

    def apply(self, plan_file: str):
        params = self.module.params
        words = ["apply", "-input=false", "-no-color", "-auto-approve"] + self.common()
        if params["parallelism"] is not None:
            words.append("-parallelism=%d" % params["parallelism"])
        return self.run(words + [plan_file], hint="read the provider's error above; resources created before the "
                        "failure are in the state, so rerun after fixing it")

    def outputs(self) -> dict:
        result = self.run(["output", "-json", "-no-color"])
        outputs = parse_json(result, "the JSON of `output -json`")
        return {name: (REDACTED if spec.get("sensitive") else spec.get("value")) for name, spec in outputs.items()}


def read_render(module: AnsibleModule) -> dict:
    """The terranix output named by config_json, checked to be JSON; nothing is written."""
    source = module.params["config_json"]
    if not os.path.isfile(source):
        module.fail_json(msg="terraform: config_json %s does not exist; render it first, e.g. `nix eval --json "
                             ".#terranix.<cloud> > %s`" % (source, source))
    try:
        with open(source, encoding="utf-8") as handle:
            return json.load(handle)
    except ValueError as exc:
        module.fail_json(msg="terraform: config_json %s is not JSON (%s); it must be the terranix output of "
                             "`nix eval --json`" % (source, exc))
    return {}


def scratch_copy(project: str, scratch: str) -> None:
    """Copy the project (config, .terraform, lock file, state) into `scratch`, where the plan is made.

    Planning in a copy is what makes the guard hold: a refused plan leaves the project's render,
    workspace selection and state exactly as they were, so a plain rerun refuses again.
    """
    if not os.path.isdir(project):
        return
    for name in os.listdir(project):
        source, target = os.path.join(project, name), os.path.join(scratch, name)
        if os.path.isdir(source) and not os.path.islink(source):
            shutil.copytree(source, target, symlinks=True)
        else:
            shutil.copy2(source, target, follow_symlinks=False)


def install(scratch: str, project: str, workspace: str) -> bool:
    """After the checks passed: put the new render, init results and workspace into the project.

    States are never copied back: planning does not change them, and the project's own state is
    the one `apply` must move forward. Returns whether config.tf.json changed.
    """
    os.makedirs(project, exist_ok=True)
    new_config, old_config = os.path.join(scratch, CONFIG_NAME), os.path.join(project, CONFIG_NAME)
    changed = False
    if os.path.exists(new_config) and not (os.path.exists(old_config)
                                           and filecmp.cmp(new_config, old_config, shallow=False)):
        shutil.copyfile(new_config, old_config + ".tmp")
        os.replace(old_config + ".tmp", old_config)
        changed = True
    lock = os.path.join(scratch, ".terraform.lock.hcl")
    if os.path.exists(lock):
        shutil.copy2(lock, os.path.join(project, ".terraform.lock.hcl"))
    dot = os.path.join(scratch, ".terraform")
    if os.path.isdir(dot):
        shutil.copytree(dot, os.path.join(project, ".terraform"), symlinks=True, dirs_exist_ok=True)
    if workspace != "default":
        os.makedirs(os.path.join(project, "terraform.tfstate.d", workspace), exist_ok=True)
    return changed


def config_differs(module: AnsibleModule) -> bool:
    target = os.path.join(module.params["project_path"], CONFIG_NAME)
    return not (os.path.exists(target) and filecmp.cmp(module.params["config_json"], target, shallow=False))


def refuse(module: AnsibleModule, result: dict, msg: str) -> None:
    module.fail_json(msg=msg, **result)


def run_module() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            project_path=dict(type="path", required=True),
            config_json=dict(type="path"),
            binary=dict(type="str", default="tofu"),
            state=dict(type="str", default="present", choices=["planned", "present", "absent"]),
            plan_file=dict(type="path"),
            targets=dict(type="list", elements="str", default=[]),
            variables_files=dict(type="list", elements="path", default=[], aliases=["variables_file"]),
            variables=dict(type="dict", default={}),
            sensitive_variables=dict(type="dict", default={}, no_log=True),
            workspace=dict(type="str", default="default"),
            backend_config=dict(type="dict", default={}, no_log=True),
            backend_config_files=dict(type="list", elements="path", default=[]),
            init_reconfigure=dict(type="bool", default=False),
            force_init=dict(type="bool", default=False),
            provider_upgrade=dict(type="bool", default=False),
            protected_resources=dict(type="list", elements="str", default=[]),
            force_destroy_protected=dict(type="bool", default=False),
            check_destroy=dict(type="bool", default=False),
            require_state_encryption=dict(type="bool", default=True),
            lock=dict(type="bool", default=True),
            lock_timeout=dict(type="int"),
            parallelism=dict(type="int"),
            timeout=dict(type="int", default=3600),
            environment=dict(type="dict", default={}, no_log=True),
        ),
        supports_check_mode=True,
    )
    params = module.params
    project = params["project_path"]
    fresh = not os.path.isdir(project)
    if fresh and not params["config_json"]:
        module.fail_json(msg="terraform: project_path %s is not a directory; create it or pass config_json so the "
                             "module creates it" % project)
    render = read_render(module) if params["config_json"] else None
    # Sensitive variables travel as TF_VAR_* so they never show up in argv (ps, `command`, error messages).
    tf_vars = {"TF_VAR_%s" % name: var_value(value) for name, value in params["sensitive_variables"].items()}
    secrets = ([str(v) for v in params["environment"].values()] + [str(v) for v in params["backend_config"].values()]
               + list(tf_vars.values()))
    runner = runner_for(module, env=dict({"TF_IN_AUTOMATION": "1", "TF_INPUT": "0"}, **tf_vars), secrets=secrets)
    applying = params["state"] != "planned" and not module.check_mode
    result = dict(changed=False, workspace=params["workspace"])
    scratch = tempfile.mkdtemp(prefix="fleet-tofu-")
    tofu = Tofu(module, runner, scratch)
    result["command"] = tofu.commands
    # Outside .terraform, so that installing the scratch .terraform never leaves a plan in the project.
    plan_file = params["plan_file"] or os.path.join(scratch, "fleet-migration.tfplan")
    try:
        scratch_copy(project, scratch)
        protected = list(params["protected_resources"])
        if render is not None:
            # prevent_destroy of the render being replaced: a new render that drops such a resource entirely
            # would otherwise destroy it, because tofu no longer sees the lifecycle block.
            protected += [a for a in prevent_destroy_addresses(os.path.join(project, CONFIG_NAME))
                          if a not in protected]
            result["protected_resources"] = protected
            result["config_changed"] = config_differs(module)
            shutil.copyfile(params["config_json"], os.path.join(scratch, CONFIG_NAME))
        ok, found = encryption_status(scratch, runner.environment(), params["backend_config"])
        result["encryption"] = found if ok else "none: " + found
        if params["require_state_encryption"] and applying and not ok:
            refuse(module, result, "terraform: refusing to %s in %s because state encryption is not configured "
                   "(found: %s). Expected a terraform.encryption block with state = { method = ..., enforced = true } "
                   "(modules/terranix/encryption.nix renders one), TF_ENCRYPTION, or an encrypting backend (s3 "
                   "encrypt = true, gcs kms_encryption_key). Add one, or set require_state_encryption: false for a "
                   "throwaway project" % ("destroy" if params["state"] == "absent" else "apply", project, found))
        tofu.init()
        selected, names = tofu.workspaces()
        if selected != params["workspace"]:
            if params["workspace"] in names:
                tofu.run(["workspace", "select", params["workspace"]])
            else:
                # Created in the scratch copy only; the project gets it once the plan has been accepted.
                result["workspace_created"] = True
                tofu.run(["workspace", "new", params["workspace"]])
        os.makedirs(os.path.dirname(os.path.abspath(plan_file)), exist_ok=True)
        planned = tofu.plan(plan_file, destroy=params["state"] == "absent")
        result["stdout"] = planned.stdout
        shown = tofu.show(plan_file)
        summary = summarize(shown)
        summary.pop("changed")
        result["plan"] = summary
        if params["plan_file"]:
            result["plan_file"] = plan_file
        known = plan_addresses(shown) + config_addresses(render if render is not None else {})
        unmatched = unmatched_patterns(params["protected_resources"], known)
        if unmatched:
            refuse(module, result, "terraform: protected_resources %s match no resource of the configuration or the "
                   "state in %s; expected each protected name to name a resource (known: %s), found none for %s. "
                   "Nothing was written. Fix the name (for example hcloud_server.cinnabar) or remove it"
                   % (", ".join(unmatched), project, ", ".join(sorted(set(known))) or "none", ", ".join(unmatched)))
        deleted = destroys(summary)
        hits = protected_hits(deleted, protected)
        if hits and not params["force_destroy_protected"]:
            refuse(module, result, "terraform: refusing a plan that destroys protected resource(s) %s in %s. Nothing "
                   "was written: the project keeps its previous render and workspace. If that is really intended (for "
                   "example switching the node off), rerun with force_destroy_protected: true; otherwise fix the "
                   "configuration so they are kept" % (", ".join(hits), project))
        if deleted and params["check_destroy"]:
            refuse(module, result, "terraform: check_destroy is set and the plan deletes or replaces %s in %s; "
                   "nothing was written. Review the plan (state: planned) and rerun without check_destroy if intended"
                   % (", ".join(deleted), project))
        has_changes = planned.rc == CHANGES
        if not applying:
            result["changed"] = has_changes
            state_doc = tofu.show()
        else:
            installed = install(scratch, project, params["workspace"])
            tofu.workdir = project
            if has_changes:
                applied = tofu.apply(plan_file)
                result.update(stdout=applied.stdout, outputs=tofu.outputs())
            result["changed"] = has_changes or installed or bool(result.get("workspace_created"))
            state_doc = tofu.show()
        result["running"] = running_machines(state_doc)
        result["billable"] = billable_resources(state_doc)
    except CommandError as error:
        fail_from_error(module, error, **result)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    if module._diff and "plan" in result:
        lines = ["%s: %s" % (r["address"], r["action"]) for r in result["plan"]["resources"]]
        result["diff"] = dict(before="", after="\n".join(lines) + "\n")
    module.exit_json(**result)


def main() -> None:
    run_module()


if __name__ == "__main__":
    main()
