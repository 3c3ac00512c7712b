"""Contract fake of OpenTofu's `tofu` CLI over JSON (.tf.json) configurations.

Upstream (opentofu/opentofu):
  internal/command/plan.go, apply.go, init.go, workspace_*.go, show.go  flags, messages, exit codes
  internal/command/jsonplan/plan.go  `show -json` plan format: format_version "1.2", resource_changes[] with
                                     address/mode/type/name/index/provider_name/change.actions/before/after
  website/docs/cli/commands/plan.mdx  -detailed-exitcode: 0 = no changes, 1 = error, 2 = changes present
  website/docs/language/state/encryption.mdx  terraform.encryption {key_provider, method, state {method, enforced}}
  local backend layout: terraform.tfstate, terraform.tfstate.d/<workspace>/terraform.tfstate, .terraform/environment
Modelled: resources `resource.<type>.<name>` (objects; `count` as a number), `variable` defaults, -var/-var-file
(JSON), TF_VAR_*, "${var.x}" substitution, targets, workspaces, saved plans (stale when the state serial moved),
state encryption (the state on disk is not plaintext when terraform.encryption.state is set). Attributes named
in FORCE_NEW are replaced, the others updated in place, as provider schemas' ForceNew would decide.

State: the working directory (as real tofu), plus $FAKE_TOFU_STATE/calls.jsonl.
"""
from __future__ import annotations

import base64
import glob
import hashlib
import json
import os
import re
import sys
import uuid
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _state import log_call, state_dir  # noqa: E402

VERSION = "1.10.6"
FORCE_NEW = {"name", "location", "zone", "image", "datacenter", "machine_type_family"}
PROVIDERS = {"hcloud": "registry.opentofu.org/hetznercloud/hcloud", "google": "registry.opentofu.org/hashicorp/google"}


class TofuError(Exception):
    pass


def out(text: str = "") -> None:
    sys.stdout.write(text + "\n")


def error(summary: str, detail: str = "") -> TofuError:
    return TofuError("\nError: %s\n\n%s\n" % (summary, detail) if detail else "\nError: %s\n" % summary)


def parse_flags(args: list[str]) -> tuple[dict, list[str]]:
    flags: dict = {"target": [], "var": [], "var-file": [], "backend-config": []}
    positional = []
    for arg in args:
        if arg.startswith("-") and len(arg) > 1:
            name, has_value, value = arg.lstrip("-").partition("=")
            if name in flags and isinstance(flags[name], list):
                flags[name].append(value)
            else:
                flags[name] = value if has_value else True
        else:
            positional.append(arg)
    return flags, positional


def load_config() -> dict:
    merged: dict = {"resource": {}, "variable": {}, "terraform": {}, "output": {}}
    files = sorted(glob.glob("*.tf.json"))
    if not files:
        raise error("No configuration files",
                    "Apply requires configuration to be present. Applying without a configuration would mark "
                    "everything for destruction, which is normally not what is desired.")
    for name in files:
        try:
            doc = json.loads(Path(name).read_text())
        except ValueError as exc:
            raise error("Invalid JSON syntax", "on %s: %s" % (name, exc)) from None
        for key, value in doc.items():
            if key == "terraform" and isinstance(value, list):
                for block in value:
                    merged["terraform"].update(block)
            elif key == "resource":
                for rtype, named in value.items():
                    merged["resource"].setdefault(rtype, {}).update(named)
            elif key in merged:
                merged[key].update(value)
    return merged


def variables(config: dict, flags: dict) -> dict:
    values = {name: spec.get("default") for name, spec in config["variable"].items()}
    for name in config["variable"]:
        if "TF_VAR_" + name in os.environ:
            values[name] = os.environ["TF_VAR_" + name]
    for path in flags["var-file"]:
        if not os.path.exists(path):
            raise error("Failed to read variables file", "Given variables file %s does not exist." % path)
        values.update(json.loads(Path(path).read_text()))
    for assignment in flags["var"]:
        name, _sep, value = assignment.partition("=")
        values[name] = value
    missing = [n for n, v in values.items() if v is None]
    if missing:
        raise error("No value for required variable",
                    'The root module input variable "%s" is not set, and has no default value. Use a -var or '
                    "-var-file command line argument to provide a value for this variable." % missing[0])
    return values


def resolve(value, values: dict):
    if isinstance(value, str):
        whole = re.fullmatch(r"\$\{var\.(\w+)\}", value)
        if whole:
            return values.get(whole.group(1))
        return re.sub(r"\$\{var\.(\w+)\}", lambda m: str(values.get(m.group(1))), value)
    if isinstance(value, dict):
        return {k: resolve(v, values) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve(v, values) for v in value]
    return value


def desired(config: dict, values: dict) -> dict:
    instances = {}
    for rtype, named in config["resource"].items():
        for name, body in named.items():
            body = resolve(dict(body), values)
            count = body.pop("count", None)
            body.pop("lifecycle", None)
            body.pop("depends_on", None)
            if count is None:
                instances["%s.%s" % (rtype, name)] = (rtype, name, None, body)
            else:
                for index in range(int(count)):
                    instances["%s.%s[%d]" % (rtype, name, index)] = (rtype, name, index, body)
    return instances


def encryption(config: dict) -> dict | None:
    enc = config["terraform"].get("encryption")
    if isinstance(enc, list):
        enc = enc[0] if enc else None
    if not enc:
        env = os.environ.get("TF_ENCRYPTION")
        enc = json.loads(env) if env and env.strip().startswith("{") else None
    return enc


# --- state --------------------------------------------------------------------
def workspace() -> str:
    path = Path(".terraform/environment")
    return path.read_text().strip() if path.exists() else "default"


def state_path(ws: str | None = None) -> Path:
    ws = ws or workspace()
    return Path("terraform.tfstate") if ws == "default" else Path("terraform.tfstate.d") / ws / "terraform.tfstate"


def read_state(config: dict, values: dict) -> dict:
    path = state_path()
    if not path.exists():
        return {"version": 4, "terraform_version": VERSION, "serial": 0, "lineage": str(uuid.uuid4()),
                "outputs": {}, "resources": []}
    doc = json.loads(path.read_text())
    if "encrypted_data" in doc:
        enc = encryption(config)
        if not enc:
            raise error("Unable to decrypt state", "the state file is encrypted but no encryption is configured")
        key = passphrase(enc, values)
        blob = base64.b64decode(doc["encrypted_data"])
        stream = hashlib.sha256(key.encode()).digest() * (len(blob) // 32 + 1)
        try:
            doc = json.loads(bytes(a ^ b for a, b in zip(blob, stream)))
        except ValueError:
            raise error("Unable to decrypt state", "decryption failed for all provided methods") from None
    return doc


def passphrase(enc: dict, values: dict) -> str:
    for providers in (enc.get("key_provider") or {}).values():
        for spec in providers.values():
            phrase = resolve(spec.get("passphrase", ""), values) if isinstance(spec, dict) else ""
            if phrase:
                if len(phrase) < 16:
                    raise error("Invalid key provider configuration", "passphrase must be at least 16 characters")
                return phrase
    raise error("Encryption key not available", "no key provider yielded a key")


def write_state(config: dict, values: dict, doc: dict) -> None:
    path = state_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    doc["serial"] = doc.get("serial", 0) + 1
    text = json.dumps(doc, indent=2)
    enc = encryption(config)
    if enc and enc.get("state"):
        key = passphrase(enc, values)
        stream = hashlib.sha256(key.encode()).digest() * (len(text) // 32 + 1)
        blob = bytes(a ^ b for a, b in zip(text.encode(), stream))
        text = json.dumps({"serial": doc["serial"], "lineage": doc["lineage"], "meta": {},
                           "encrypted_data": base64.b64encode(blob).decode(), "encryption_version": "v0"})
    path.write_text(text)


def current(doc: dict) -> dict:
    found = {}
    for res in doc["resources"]:
        for inst in res["instances"]:
            index = inst.get("index_key")
            address = "%s.%s" % (res["type"], res["name"]) + ("" if index is None else "[%d]" % index)
            found[address] = (res["type"], res["name"], index, inst["attributes"])
    return found


# --- commands -----------------------------------------------------------------
def providers_of(config: dict) -> list[str]:
    return sorted({rtype.split("_", 1)[0] for rtype in config["resource"]})


def require_init(config: dict) -> None:
    """Like tofu: every provider the configuration needs must have been selected by `init`."""
    selected_path = Path(".terraform/providers/selected.json")
    selected = json.loads(selected_path.read_text()) if selected_path.exists() else []
    missing = [p for p in providers_of(config) if p not in selected]
    if missing:
        raise error("Inconsistent dependency lock file",
                    "The following dependency selections recorded in the lock file are inconsistent with the "
                    "current configuration:\n" + "".join(
                        "  - provider %s: required by this configuration but no version is selected\n"
                        % PROVIDERS.get(p, "registry.opentofu.org/hashicorp/" + p) for p in missing)
                    + "\nTo make the initial dependency selections that will initialize the dependency lock file, "
                    "run:\n  tofu init")


def targeted(address: str, targets: list[str]) -> bool:
    return not targets or any(address == t or address.startswith(t + "[") or address.startswith(t + ".")
                              for t in targets)


def compute_changes(config: dict, values: dict, flags: dict) -> tuple[list[dict], dict]:
    doc = read_state(config, values)
    have = current(doc)
    want = {} if flags.get("destroy") else desired(config, values)
    changes = []
    for address in sorted(set(have) | set(want)):
        if not targeted(address, flags["target"]):
            continue
        rtype, name, index, after = want.get(address, have.get(address))
        before = have.get(address, (None, None, None, None))[3]
        if address not in have:
            actions = ["create"]
        elif address not in want:
            actions, after = ["delete"], None
        elif before == after:
            actions = ["no-op"]
        elif any(before.get(k) != after.get(k) for k in FORCE_NEW):
            actions = ["delete", "create"]
        else:
            actions = ["update"]
        change = {"address": address, "mode": "managed", "type": rtype, "name": name,
                  "provider_name": PROVIDERS.get(rtype.split("_", 1)[0], "registry.opentofu.org/hashicorp/null"),
                  "change": {"actions": actions, "before": before, "after": after}}
        if index is not None:
            change["index"] = index
        changes.append(change)
    return changes, doc


def describe(changes: list[dict]) -> tuple[int, int, int]:
    add = sum(1 for c in changes if "create" in c["change"]["actions"])
    change = sum(1 for c in changes if c["change"]["actions"] == ["update"])
    destroy = sum(1 for c in changes if "delete" in c["change"]["actions"])
    return add, change, destroy


def cmd_init(flags, _pos) -> int:
    config = load_config()
    Path(".terraform/providers").mkdir(parents=True, exist_ok=True)
    Path(".terraform/providers/selected.json").write_text(json.dumps(providers_of(config)))
    Path(".terraform.lock.hcl").write_text("# This file is maintained automatically by \"tofu init\".\n")
    out("\nInitializing the backend...\n\nInitializing provider plugins...\n")
    out("OpenTofu has been successfully initialized!")
    return 0


def cmd_workspace(flags, pos) -> int:
    sub = pos[0] if pos else ""
    existing = ["default"] + sorted(p.name for p in Path("terraform.tfstate.d").glob("*") if p.is_dir())
    if sub == "list":
        for ws in existing:
            out(("* " if ws == workspace() else "  ") + ws)
        return 0
    if sub == "show":
        out(workspace())
        return 0
    if sub in ("select", "new") and len(pos) == 2:
        name = pos[1]
        if sub == "new":
            if name in existing:
                raise error('Workspace "%s" already exists' % name)
            Path("terraform.tfstate.d", name).mkdir(parents=True)
            out('Created and switched to workspace "%s"!' % name)
        elif name not in existing:
            if flags.get("or-create"):
                Path("terraform.tfstate.d", name).mkdir(parents=True)
                out('Created and switched to workspace "%s"!' % name)
            else:
                sys.stderr.write('\nWorkspace "%s" doesn\'t exist.\n\nYou can create this workspace with the '
                                 '"new" subcommand\nor include the "-or-create" flag with the "select" '
                                 "subcommand.\n" % name)
                return 1
        else:
            out('Switched to workspace "%s".' % name)
        Path(".terraform").mkdir(exist_ok=True)
        Path(".terraform/environment").write_text(name)
        return 0
    sys.stderr.write("Usage: tofu [global options] workspace\n")
    return 1


def check_prevent_destroy(config: dict, changes: list[dict]) -> None:
    """internal/tofu: a resource whose configuration has lifecycle.prevent_destroy may not be deleted."""
    for c in changes:
        body = config["resource"].get(c["type"], {}).get(c["name"], {})
        if "delete" in c["change"]["actions"] and (body.get("lifecycle") or {}).get("prevent_destroy"):
            raise error("Instance cannot be destroyed",
                        "Resource %s has lifecycle.prevent_destroy set, but the plan calls for this resource to be "
                        "destroyed. To avoid this error and continue with the plan, either disable "
                        "lifecycle.prevent_destroy or reduce the scope of the plan using the -target flag."
                        % c["address"])


def cmd_plan(flags, _pos) -> int:
    config = load_config()
    require_init(config)
    values = variables(config, flags)
    changes, doc = compute_changes(config, values, flags)
    check_prevent_destroy(config, changes)
    add, change, destroy = describe(changes)
    if flags.get("out"):
        Path(flags["out"]).write_text(json.dumps({
            "fake_tofu_plan": 1, "workspace": workspace(), "serial": doc.get("serial", 0), "changes": changes,
            "destroy": bool(flags.get("destroy")), "variables": sorted(values)}))
    if not (add or change or destroy):
        out("\nNo changes. Your infrastructure matches the configuration.")
        return 0
    out("\nOpenTofu will perform the following actions:\n")
    for c in changes:
        if c["change"]["actions"] != ["no-op"]:
            out("  # %s will be %s" % (c["address"], {"create": "created", "update": "updated in-place",
                                                      "delete": "destroyed"}.get(c["change"]["actions"][-1]
                                                                                 if len(c["change"]["actions"]) == 1
                                                                                 else "", "replaced")))
    out("\nPlan: %d to add, %d to change, %d to destroy." % (add, change, destroy))
    return 2 if flags.get("detailed-exitcode") else 0


def state_json(config: dict, values: dict) -> dict:
    """internal/command/jsonstate/state.go: `show -json` without a file renders the current state."""
    doc = read_state(config, values)
    resources = []
    for address, (rtype, name, index, attrs) in sorted(current(doc).items()):
        entry = {"address": address, "mode": "managed", "type": rtype, "name": name,
                 "provider_name": PROVIDERS.get(rtype.split("_", 1)[0], "registry.opentofu.org/hashicorp/null"),
                 "schema_version": 0, "values": attrs, "sensitive_values": {}}
        if index is not None:
            entry["index"] = index
        resources.append(entry)
    shown = {"format_version": "1.0", "terraform_version": VERSION}
    if resources:
        shown["values"] = {"outputs": {}, "root_module": {"resources": resources}}
    return shown


def cmd_show(flags, pos) -> int:
    if not flags.get("json"):
        sys.stderr.write("the fake supports only `show -json [PLANFILE]`\n")
        return 1
    if not pos:
        config = load_config()
        out(json.dumps(state_json(config, variables(config, flags))))
        return 0
    path = Path(pos[0])
    if not path.exists():
        raise error("Failed to read the given file as a state or plan file",
                    "State read error: Error loading statefile: open %s: no such file or directory" % pos[0])
    plan = json.loads(path.read_text())
    out(json.dumps({"format_version": "1.2", "terraform_version": VERSION, "resource_changes": plan["changes"],
                    "errored": False, "timestamp": "2026-11-25T00:00:00Z"}))
    return 0


def apply_changes(config: dict, values: dict, doc: dict, changes: list[dict]) -> tuple[int, int, int]:
    have = current(doc)
    for c in changes:
        actions = c["change"]["actions"]
        if "delete" in actions:
            have.pop(c["address"], None)
        if "create" in actions or actions == ["update"]:
            have[c["address"]] = (c["type"], c["name"], c.get("index"), c["change"]["after"])
    grouped: dict = {}
    for address, (rtype, name, index, attrs) in sorted(have.items()):
        res = grouped.setdefault((rtype, name), {"mode": "managed", "type": rtype, "name": name, "instances": []})
        inst = {"attributes": attrs}
        if index is not None:
            inst["index_key"] = index
        res["instances"].append(inst)
    doc["resources"] = list(grouped.values())
    write_state(config, values, doc)
    return describe(changes)


def cmd_apply(flags, pos, destroy_cmd: bool = False) -> int:
    config = load_config()
    require_init(config)
    if pos:
        plan = json.loads(Path(pos[0]).read_text())
        values = variables(config, flags)
        doc = read_state(config, values)
        if plan["serial"] != doc.get("serial", 0) or plan["workspace"] != workspace():
            raise error("Saved plan is stale",
                        "The given plan file can no longer be applied because the state was changed by another "
                        "operation after the plan was created.")
        changes = plan["changes"]
    else:
        if not flags.get("auto-approve"):
            sys.stderr.write("\nError: No value for the approval prompt (run with -auto-approve or -input=true)\n")
            return 1
        if destroy_cmd:
            flags["destroy"] = True
        values = variables(config, flags)
        changes, doc = compute_changes(config, values, flags)
    add, change, destroy = apply_changes(config, values, doc, changes)
    if destroy_cmd:
        out("\nDestroy complete! Resources: %d destroyed." % destroy)
    else:
        out("\nApply complete! Resources: %d added, %d changed, %d destroyed." % (add, change, destroy))
    return 0


def cmd_output(flags, _pos) -> int:
    config = load_config()
    values = variables(config, flags) if config["variable"] else {}
    doc = read_state(config, values)
    have = current(doc)
    result = {}
    for name, spec in config["output"].items():
        value = spec.get("value")
        match = re.fullmatch(r"\$\{(\w+)\.(\w+)\.(\w+)\}", value) if isinstance(value, str) else None
        if match and "%s.%s" % match.group(1, 2) in have:
            value = have["%s.%s" % match.group(1, 2)][3].get(match.group(3))
        elif match:
            continue
        result[name] = {"sensitive": bool(spec.get("sensitive")), "type": "string", "value": value}
    out(json.dumps(result))
    return 0


def cmd_version(flags, _pos) -> int:
    if flags.get("json"):
        out(json.dumps({"terraform_version": VERSION, "platform": "linux_amd64", "provider_selections": {}}))
    else:
        out("OpenTofu v%s\non linux_amd64" % VERSION)
    return 0


def main() -> int:
    state = state_dir("FAKE_TOFU_STATE")
    log_call(state, ["tofu"] + sys.argv[1:])
    args = sys.argv[1:]
    while args and args[0].startswith("-chdir="):
        os.chdir(args.pop(0).split("=", 1)[1])
    if not args:
        sys.stderr.write("Usage: tofu [global options] <subcommand> [args]\n")
        return 127
    command, rest = args[0], args[1:]
    flags, pos = parse_flags(rest)
    handlers = {"init": cmd_init, "workspace": cmd_workspace, "plan": cmd_plan, "show": cmd_show,
                "apply": cmd_apply, "destroy": lambda f, p: cmd_apply(f, p, destroy_cmd=True),
                "output": cmd_output, "version": cmd_version}
    if command not in handlers:
        sys.stderr.write('OpenTofu has no command named "%s".\n\nTo see all of OpenTofu\'s top-level commands, '
                         "run:\n  tofu -help\n" % command)
        return 1
    try:
        return handlers[command](flags, pos)
    except TofuError as exc:
        sys.stderr.write(str(exc))
        return 1


if __name__ == "__main__":
    sys.exit(main())
