"""Contract fake of OpenTofu's `tofu` CLI over JSON (.tf.json) configurations such as terranix renders.

Upstream (opentofu/opentofu, checked against the mirror at commit f831fa1aa4):
  internal/command/plan.go             exit codes: 1 on error diagnostics; `if args.DetailedExitCode && !op.PlanEmpty
                                       { return 2 }`; otherwise 0 (website/docs/cli/commands/plan.mdx: 0 = succeeded
                                       with empty diff, 1 = error, 2 = succeeded with non-empty diff)
  internal/command/arguments/plan.go, apply.go, extended.go
                                       -out, -destroy, -detailed-exitcode, -target, -var, -var-file, -lock,
                                       -lock-timeout, -parallelism, -input, -no-color, -auto-approve
  internal/command/jsonplan/plan.go    `show -json PLANFILE`: FormatVersion = "1.2"; resource_changes[] with
                                       address/mode/type/name/index/provider_name/change{actions,before,after,
                                       after_unknown}; prior_state; planned_values; configuration; errored
  internal/command/jsonstate/state.go  `show -json` (no file): FormatVersion = "1.0"; values.root_module.resources[]
                                       with address/mode/type/name/provider_name/schema_version/values
  internal/encryption/targets.go       "Reference to undeclared encryption method"; enforced forbids unencrypted
  internal/encryption/base.go          an unencrypted state read with encryption configured and no `unencrypted`
                                       method: "encountered unencrypted payload without unencrypted method configured";
                                       payload {"meta", "encrypted_data", "encryption_version"}
  internal/encryption/keyprovider/pbkdf2/config.go  "passphrase is too short (minimum 16 characters)"
  internal/tofu (prevent_destroy)      "Instance cannot be destroyed"
  local backend layout                 terraform.tfstate, terraform.tfstate.d/<workspace>/terraform.tfstate,
                                       .terraform/environment, .terraform.tfstate.lock.info (state lock)

What it reads, as tofu would: every `resource.<type>.<name>` of every *.tf.json (objects or lists of objects,
`count`), `variable` (a variable without default must be set by -var, -var-file or TF_VAR_), `provider`,
`terraform.required_providers` / `required_version`, `terraform.encryption` (key_provider.pbkdf2.<n>.passphrase,
method.aes_gcm.<n>.keys, state/plan {method, enforced}, all references checked), `output` (objects of references),
`lifecycle.prevent_destroy`, and "${...}" references to variables and to other resources' attributes (unknown
until applied: `after_unknown`, "(known after apply)"). Apply creates in dependency order and computes the
attributes the providers would (id, IP addresses). Attributes named in FORCE_NEW are replaced, the others
updated in place, as provider schemas' ForceNew would decide.

Failure modes: missing variables, invalid JSON, required_version not met, providers not initialised, undeclared
encryption references, short passphrase, wrong passphrase, an unencrypted state under enforced encryption, a
stale saved plan, a held state lock, prevent_destroy, and an apply that fails at a resource named in
$FAKE_TOFU_STATE/faults.json {"apply_error": {"address": ADDR, "message": TEXT}} (the resources created before
it stay in the state, as with a real provider error).

State: the working directory (as real tofu), plus $FAKE_TOFU_STATE/calls.jsonl.

The cloud behind the providers ($FAKE_TOFU_STATE/machines/<name>/): what the provider does to a machine, not
tofu's own behaviour. Creating a compute instance (hcloud_server, google_compute_instance) boots its image, the
way Hetzner (https://docs.hetzner.cloud/reference/cloud#servers-create-a-server, `image`) and GCE
(google_compute_instance `boot_disk.initialize_params.image`) do: a stock image such as `debian-12` or
`debian-cloud/debian-12` leaves a Linux host whose /etc/os-release says ID=debian and that runs no NixOS -- the
host nixos-anywhere expects (nix-community/nixos-anywhere README.md, "Overview": it connects over SSH and,
when no NixOS installer is present, kexecs from the running Linux into one, then formats with disko). Deleting the
instance (or replacing it) deletes its disk: the tree is removed (a replace boots the image again). The tree uses
the layout of tests/fakes/fake_clan.py's hosts (etc/os-release, uname), so the tests point the machine's address
(hosts/<user@host>'s host part) at it, as DNS would.
"""
from __future__ import annotations

import base64
import glob
import hashlib
import json
import os
import re
import shutil
import sys
import uuid
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _state import log_call, state_dir  # noqa: E402

VERSION = "1.10.6"
FORCE_NEW = {"name", "location", "zone", "image", "datacenter", "machine_type_family", "boot_disk", "region"}
PROVIDERS = {"hcloud": "registry.opentofu.org/hetznercloud/hcloud", "google": "registry.opentofu.org/hashicorp/google"}
REF = re.compile(r"\$\{([A-Za-z_][\w-]*)\.([\w-]+)(?:\.([\w-]+))?\}")
UNKNOWN = "(known after apply)"
LOCK_FILE = ".terraform.tfstate.lock.info"


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


def _blocks(value) -> list[dict]:
    """HCL JSON allows a block as an object or a list of objects."""
    if isinstance(value, list):
        return [v for v in value if isinstance(v, dict)]
    return [value] if isinstance(value, dict) else []


# --- configuration -----------------------------------------------------------
def load_config() -> dict:
    merged: dict = {"resource": {}, "variable": {}, "terraform": {}, "output": {}, "provider": {}}
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
            if key == "terraform":
                for block in _blocks(value):
                    merged["terraform"].update(block)
            elif key == "resource":
                for block in _blocks(value):
                    for rtype, named in block.items():
                        for rname, body in (named or {}).items():
                            merged["resource"].setdefault(rtype, {})[rname] = (_blocks(body) or [{}])[0]
            elif key in merged:
                for block in _blocks(value):
                    merged[key].update(block)
            else:
                raise error("Unsupported block type", 'on %s: Blocks of type "%s" are not expected here.'
                            % (name, key))
    check_version(merged["terraform"].get("required_version"))
    return merged


def check_version(constraint: str | None) -> None:
    if not constraint:
        return
    have = tuple(int(p) for p in VERSION.split("."))
    for part in constraint.split(","):
        match = re.fullmatch(r"\s*(>=|<=|>|<|=|~>)?\s*([\d.]+)\s*", part)
        if not match:
            continue
        op, want = match.group(1) or "=", tuple(int(p) for p in match.group(2).split("."))
        ok = {">=": have >= want, "<=": have <= want, ">": have > want, "<": have < want, "=": have == want,
              "~>": have >= want and have[:len(want) - 1] == want[:len(want) - 1]}[op]
        if not ok:
            raise error("Unsupported OpenTofu Core version",
                        "This configuration does not support OpenTofu version %s. To proceed, either choose "
                        "another supported OpenTofu version or update this version constraint (%s)."
                        % (VERSION, constraint))


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
        if name not in config["variable"]:
            raise error("Value for undeclared variable",
                        'A variable named "%s" was assigned on the command line, but the root module does not '
                        "declare a variable of that name." % name)
        values[name] = value
    missing = sorted(n for n, v in values.items() if v is None)
    if missing:
        raise error("No value for required variable",
                    'The root module input variable "%s" is not set, and has no default value. Use a -var or '
                    "-var-file command line argument to provide a value for this variable." % missing[0])
    return values


def resolve(value, values: dict, known: dict | None = None):
    """Substitute ${var.x} and ${type.name.attr}; a resource attribute not known yet stays UNKNOWN."""
    if isinstance(value, str):
        def one(match):
            kind, name, attr = match.groups()
            if kind == "var":
                return values.get(name)
            attrs = (known or {}).get("%s.%s" % (kind, name))
            if attrs is None or attrs.get(attr) is None:
                return UNKNOWN
            return attrs[attr]

        whole = REF.fullmatch(value)
        if whole:
            return one(whole)
        return REF.sub(lambda m: str(one(m)), value)
    if isinstance(value, dict):
        return {k: resolve(v, values, known) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve(v, values, known) for v in value]
    return value


def has_unknown(value) -> bool:
    if isinstance(value, str):
        return UNKNOWN in value
    if isinstance(value, dict):
        return any(has_unknown(v) for v in value.values())
    if isinstance(value, list):
        return any(has_unknown(v) for v in value)
    return False


def unknown_mask(value):
    """jsonplan after_unknown: true where the value is only known after apply."""
    if isinstance(value, dict):
        return {k: unknown_mask(v) for k, v in value.items() if has_unknown(v)}
    if isinstance(value, list):
        return [unknown_mask(v) for v in value]
    return has_unknown(value)


def references(body) -> set[str]:
    text = json.dumps(body)
    return {"%s.%s" % m.group(1, 2) for m in REF.finditer(text) if m.group(1) != "var"}


def desired(config: dict, values: dict, known: dict) -> dict:
    instances = {}
    for rtype, named in config["resource"].items():
        for name, body in named.items():
            body = dict(body)
            count = body.pop("count", None)
            body.pop("lifecycle", None)
            body.pop("depends_on", None)
            body = resolve(body, values, known)
            if count is None:
                instances["%s.%s" % (rtype, name)] = (rtype, name, None, body)
            else:
                count = resolve(count, values)
                if not str(count).isdigit():
                    raise error("Invalid count argument",
                                'The given "count" argument value is unsuitable: a number is required.')
                for index in range(int(count)):
                    instances["%s.%s[%d]" % (rtype, name, index)] = (rtype, name, index, body)
    return instances


# --- encryption (internal/encryption) ------------------------------------------
def encryption(config: dict) -> dict | None:
    enc = (_blocks(config["terraform"].get("encryption")) or [None])[0]
    if not enc:
        env = os.environ.get("TF_ENCRYPTION")
        enc = json.loads(env) if env and env.strip().startswith("{") else None
    return enc


def _ref(text, prefix: str) -> tuple[str, str] | None:
    match = re.fullmatch(r"\$\{%s\.([\w-]+)\.([\w-]+)\}" % prefix, text or "")
    return match.groups() if match else None


def target_key(enc: dict, target: str, values: dict) -> str | None:
    """The key of encryption target `state` or `plan`, after checking every reference like tofu does."""
    spec = (_blocks(enc.get(target)) or [None])[0]
    if not spec:
        return None
    ref = _ref(spec.get("method"), "method")
    methods = enc.get("method") or {}
    if not ref or ref[1] not in (methods.get(ref[0]) or {}):
        raise error("Reference to undeclared encryption method",
                    "There is no method %s block declared in the encryption block." % (spec.get("method"),))
    if ref[0] == "unencrypted":
        if spec.get("enforced"):
            raise error("Unencrypted method is forbidden",
                        "Unable to use unencrypted method since the enforced flag is set.")
        return None
    keys = _ref(methods[ref[0]][ref[1]].get("keys"), "key_provider")
    providers = enc.get("key_provider") or {}
    if not keys or keys[1] not in (providers.get(keys[0]) or {}):
        raise error("Reference to undeclared key provider",
                    "There is no key_provider %s block declared in the encryption block."
                    % (methods[ref[0]][ref[1]].get("keys"),))
    phrase = resolve(providers[keys[0]][keys[1]].get("passphrase", ""), values)
    if not phrase:
        raise error("Invalid key provider configuration", "passphrase is required")
    if len(phrase) < 16:
        raise error("Invalid key provider configuration", "passphrase is too short (minimum 16 characters)")
    return phrase


def seal(text: str, key: str | None) -> str:
    if key is None:
        return text
    stream = hashlib.sha256(key.encode()).digest() * (len(text.encode()) // 32 + 1)
    blob = bytes(a ^ b for a, b in zip(text.encode(), stream))
    return json.dumps({"meta": {"key_provider.pbkdf2.fleet": "fake"},
                       "encrypted_data": base64.b64encode(blob).decode(), "encryption_version": "v0"})


def unseal(text: str, key: str | None, what: str) -> dict:
    doc = json.loads(text)
    if "encrypted_data" not in doc:
        if key is not None:
            raise error("Unable to decrypt %s" % what,
                        "encountered unencrypted payload without unencrypted method configured")
        return doc
    if key is None:
        raise error("Unable to decrypt %s" % what, "the %s is encrypted but no encryption is configured" % what)
    blob = base64.b64decode(doc["encrypted_data"])
    stream = hashlib.sha256(key.encode()).digest() * (len(blob) // 32 + 1)
    try:
        return json.loads(bytes(a ^ b for a, b in zip(blob, stream)))
    except ValueError:
        raise error("Unable to decrypt %s" % what, "decryption failed for all provided methods") from None


def key_for(config: dict, values: dict, target: str) -> str | None:
    enc = encryption(config)
    return target_key(enc, target, values) if enc else None


# --- state -------------------------------------------------------------------
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
    return unseal(path.read_text(), key_for(config, values, "state"), "state")


def write_state(config: dict, values: dict, doc: dict) -> None:
    path = state_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    doc["serial"] = doc.get("serial", 0) + 1
    path.write_text(seal(json.dumps(doc, indent=2), key_for(config, values, "state")))


def current(doc: dict) -> dict:
    found = {}
    for res in doc["resources"]:
        for inst in res["instances"]:
            index = inst.get("index_key")
            address = "%s.%s" % (res["type"], res["name"]) + ("" if index is None else "[%d]" % index)
            found[address] = (res["type"], res["name"], index, inst["attributes"])
    return found


def lock(flags: dict):
    """The local backend's state lock: a held lock fails the command (unless -lock=false)."""
    if str(flags.get("lock", "true")).lower() == "false":
        return None
    if Path(LOCK_FILE).exists():
        info = json.loads(Path(LOCK_FILE).read_text() or "{}")
        raise error("Error acquiring the state lock",
                    "Error message: resource temporarily unavailable\nLock Info:\n  ID:        %s\n  Path:      "
                    "terraform.tfstate\n  Operation: %s\n\nOpenTofu acquires a state lock to protect the state from "
                    "being written by multiple users at the same time. Please resolve the issue above and try again."
                    % (info.get("ID", "?"), info.get("Operation", "?")))
    return None


# --- commands ----------------------------------------------------------------
def providers_of(config: dict) -> list[str]:
    declared = set((config["terraform"].get("required_providers") or {}))
    return sorted(declared | {rtype.split("_", 1)[0] for rtype in config["resource"]} | set(config["provider"]))


def provider_name(rtype: str) -> str:
    return PROVIDERS.get(rtype.split("_", 1)[0], "registry.opentofu.org/hashicorp/" + rtype.split("_", 1)[0])


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


def with_dependencies(config: dict, targets: list[str]) -> list[str]:
    """-target also selects everything the targeted resources reference (internal/tofu graph transform)."""
    found, queue = list(targets), list(targets)
    while queue:
        rtype, _dot, name = re.sub(r"\[[^\]]*\]$", "", queue.pop()).partition(".")
        for dep in sorted(references(config["resource"].get(rtype, {}).get(name, {}))):
            if dep not in found:
                found.append(dep)
                queue.append(dep)
    return found


def compute_changes(config: dict, values: dict, flags: dict) -> tuple[list[dict], dict]:
    if flags["target"] and not flags.get("destroy"):
        flags = dict(flags, target=with_dependencies(config, flags["target"]))
    doc = read_state(config, values)
    have = current(doc)
    known = {addr: attrs for addr, (_t, _n, _i, attrs) in have.items()}
    want = {} if flags.get("destroy") else desired(config, values, known)
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
        elif all(before.get(k) == v for k, v in after.items()):
            actions, after = ["no-op"], before
        elif any(k in before and before.get(k) != after.get(k) for k in FORCE_NEW):
            actions = ["delete", "create"]
        else:
            actions = ["update"]
        change = {"address": address, "mode": "managed", "type": rtype, "name": name,
                  "provider_name": provider_name(rtype),
                  "change": {"actions": actions, "before": before, "after": after,
                             "after_unknown": unknown_mask(after) if after else {}}}
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


def state_values(doc: dict) -> dict:
    """internal/command/jsonstate: the values part of a state."""
    resources = []
    for address, (rtype, name, index, attrs) in sorted(current(doc).items()):
        entry = {"address": address, "mode": "managed", "type": rtype, "name": name,
                 "provider_name": provider_name(rtype), "schema_version": 0, "values": attrs,
                 "sensitive_values": {}}
        if index is not None:
            entry["index"] = index
        resources.append(entry)
    return {"outputs": {}, "root_module": {"resources": resources}}


def cmd_plan(flags, _pos) -> int:
    config = load_config()
    require_init(config)
    values = variables(config, flags)
    key_for(config, values, "state")
    lock(flags)
    changes, doc = compute_changes(config, values, flags)
    check_prevent_destroy(config, changes)
    add, change, destroy = describe(changes)
    if flags.get("out"):
        plan = {"fake_tofu_plan": 1, "workspace": workspace(), "serial": doc.get("serial", 0),
                "lineage": doc.get("lineage"), "changes": changes, "destroy": bool(flags.get("destroy")),
                "variables": sorted(values), "prior_state": state_values(doc) if doc["resources"] else None}
        Path(flags["out"]).write_text(seal(json.dumps(plan), key_for(config, values, "plan")))
    if not (add or change or destroy):
        out("\nNo changes. Your infrastructure matches the configuration.")
        return 0
    out("\nOpenTofu will perform the following actions:\n")
    words = {("create",): "created", ("update",): "updated in-place", ("delete",): "destroyed"}
    for c in changes:
        if c["change"]["actions"] != ["no-op"]:
            out("  # %s will be %s" % (c["address"], words.get(tuple(c["change"]["actions"]), "replaced")))
    out("\nPlan: %d to add, %d to change, %d to destroy." % (add, change, destroy))
    return 2 if flags.get("detailed-exitcode") else 0


def read_plan(config: dict, values: dict, path: str) -> dict:
    if not Path(path).exists():
        raise error("Failed to read the given file as a state or plan file",
                    "State read error: Error loading statefile: open %s: no such file or directory" % path)
    return unseal(Path(path).read_text(), key_for(config, values, "plan"), "plan")


def cmd_show(flags, pos) -> int:
    if not flags.get("json"):
        sys.stderr.write("the fake supports only `show -json [PLANFILE]`\n")
        return 1
    config = load_config()
    values = variables(config, flags)
    if not pos:
        doc = read_state(config, values)
        shown = {"format_version": "1.0", "terraform_version": VERSION}
        if doc["resources"]:
            shown["values"] = state_values(doc)
        out(json.dumps(shown))
        return 0
    plan = read_plan(config, values, pos[0])
    planned = [{"address": c["address"], "mode": "managed", "type": c["type"], "name": c["name"],
                "provider_name": c["provider_name"], "schema_version": 0, "values": c["change"]["after"]}
               for c in plan["changes"] if c["change"]["after"] is not None]
    shown = {"format_version": "1.2", "terraform_version": VERSION,
             "planned_values": {"root_module": {"resources": planned}},
             "resource_changes": plan["changes"], "errored": False, "timestamp": "2026-11-25T00:00:00Z",
             "configuration": {"root_module": {"resources": [
                 {"address": "%s.%s" % (t, n), "mode": "managed", "type": t, "name": n}
                 for t, named in sorted(config["resource"].items()) for n in sorted(named)]}}}
    if plan.get("prior_state"):
        shown["prior_state"] = {"format_version": "1.0", "terraform_version": VERSION,
                                "values": plan["prior_state"]}
    out(json.dumps(shown))
    return 0


def computed(rtype: str, name: str, attrs: dict) -> dict:
    """What the provider returns for a new object: an id, and the addresses of servers and static IPs."""
    digest = hashlib.sha256(("%s.%s" % (rtype, name)).encode()).digest()
    attrs = dict(attrs, id=str(int.from_bytes(digest[:4], "big")))
    if rtype == "hcloud_server":
        attrs.update(ipv4_address="192.0.2.%d" % (digest[4] % 250 + 1), ipv6_address="2001:db8::%x" % digest[5])
    if rtype == "google_compute_address":
        attrs["address"] = "198.51.100.%d" % (digest[4] % 250 + 1)
    if rtype == "google_compute_network":
        attrs["self_link"] = "projects/fleet/global/networks/%s" % attrs.get("name", name)
    return attrs


MACHINE_TYPES = {"hcloud_server": lambda attrs: attrs.get("image"),
                 "google_compute_instance": lambda attrs: (((attrs.get("boot_disk") or {}).get("initialize_params")
                                                            or {}).get("image"))}


def machine_dir(name: str) -> Path:
    return Path(os.environ["FAKE_TOFU_STATE"]) / "machines" / name


def boot_image(rtype: str, label: str, attrs: dict) -> None:
    """The provider created the instance: it boots its image (see the module docstring)."""
    image = str(MACHINE_TYPES[rtype](attrs) or "")
    match = re.search(r"(?:^|/)([a-z]+)-(\d+)$", image)
    root = machine_dir(str(attrs.get("name") or label))
    if root.exists():
        shutil.rmtree(root)
    (root / "etc").mkdir(parents=True)
    os_id, version = (match.group(1), match.group(2)) if match else ("unknown", "")
    release = 'NAME="%s"\nID=%s\nVERSION_ID="%s"\n# booted from image %s\n' % (os_id.capitalize(), os_id, version, image)
    (root / "etc" / "os-release").write_text(release)


def delete_machine(rtype: str, label: str, attrs: dict) -> None:
    """The provider deleted the instance and its boot disk: nothing of the machine is left."""
    root = machine_dir(str((attrs or {}).get("name") or label))
    if root.exists():
        shutil.rmtree(root)


def fault() -> dict:
    path = Path(os.environ["FAKE_TOFU_STATE"]) / "faults.json"
    return json.loads(path.read_text()).get("apply_error") or {} if path.exists() else {}


def apply_changes(config: dict, values: dict, doc: dict, changes: list[dict]) -> tuple[int, int, int]:
    have = current(doc)
    failing = fault()
    done: list[dict] = []
    try:
        for c in [c for c in changes if "delete" in c["change"]["actions"]]:
            if c["address"] == failing.get("address"):
                raise error("deleting %s" % c["address"], failing.get("message", "provider error"))
            gone = have.pop(c["address"], None)
            if c["type"] in MACHINE_TYPES:
                delete_machine(c["type"], c["name"], gone[3] if gone else {})
            if c["change"]["actions"] == ["delete"]:
                done.append(c)
        pending = [c for c in changes if "create" in c["change"]["actions"] or c["change"]["actions"] == ["update"]]
        while pending:
            known = {addr: attrs for addr, (_t, _n, _i, attrs) in have.items()}
            ready = [c for c in pending if not (references(config["resource"].get(c["type"], {}).get(c["name"], {}))
                                                - set(known) - {"%s.%s" % (c["type"], c["name"])})]
            if not ready:
                raise error("Cycle or missing dependency", "resources %s reference objects that are neither in the "
                            "state nor in the plan" % ", ".join(c["address"] for c in pending))
            for c in ready:
                if c["address"] == failing.get("address"):
                    raise error("creating %s" % c["address"], failing.get("message", "provider error"))
                body = dict(config["resource"].get(c["type"], {}).get(c["name"], {}))
                for meta in ("count", "lifecycle", "depends_on"):
                    body.pop(meta, None)
                before = have.get(c["address"], (None, None, None, {}))[3]
                attrs = resolve(body, values, known)
                attrs = computed(c["type"], c["name"], attrs) if "create" in c["change"]["actions"] \
                    else dict(before, **attrs)
                have[c["address"]] = (c["type"], c["name"], c.get("index"), attrs)
                if c["type"] in MACHINE_TYPES and "create" in c["change"]["actions"]:
                    boot_image(c["type"], c["name"], attrs)
                pending.remove(c)
                done.append(c)
    finally:
        grouped: dict = {}
        for address, (rtype, name, index, attrs) in sorted(have.items()):
            res = grouped.setdefault((rtype, name), {"mode": "managed", "type": rtype, "name": name,
                                                     "provider": 'provider["%s"]' % provider_name(rtype),
                                                     "instances": []})
            inst = {"schema_version": 0, "attributes": attrs}
            if index is not None:
                inst["index_key"] = index
            res["instances"].append(inst)
        doc["resources"] = list(grouped.values())
        doc["outputs"] = outputs_of(config, values, have)
        write_state(config, values, doc)
    return describe(done)


def outputs_of(config: dict, values: dict, have: dict) -> dict:
    known = {addr: attrs for addr, (_t, _n, _i, attrs) in have.items()}
    result = {}
    for name, spec in config["output"].items():
        value = resolve(spec.get("value"), values, known)
        if has_unknown(value):
            continue
        result[name] = {"value": value, "type": "string" if isinstance(value, str) else "object",
                        "sensitive": bool(spec.get("sensitive"))}
    return result


def cmd_apply(flags, pos, destroy_cmd: bool = False) -> int:
    config = load_config()
    require_init(config)
    values = variables(config, flags)
    lock(flags)
    if pos:
        plan = read_plan(config, values, pos[0])
        doc = read_state(config, values)
        if plan["serial"] != doc.get("serial", 0) or plan["workspace"] != workspace() or (
                plan.get("lineage") and doc["resources"] and plan["lineage"] != doc.get("lineage")):
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
        changes, doc = compute_changes(config, values, flags)
        check_prevent_destroy(config, changes)
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
    out(json.dumps(outputs_of(config, values, current(doc))))
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
