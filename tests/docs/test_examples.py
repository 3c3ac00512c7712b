"""Every module's EXAMPLES, validated against the module's documented options and the real fleet.

For each example task: its options exist (or are aliases), required options are present, literal
values of options with choices are valid, every inventory group and machine it names exists in the
real clan inventory (groups are phaseN, not phase_1), and every clan vars generator it names is one
the flake declares (`nix eval .#fleet.generators`).
"""
from __future__ import annotations

import re

import pytest
import yaml

import docsupport as ds
from support import nix as nixsupport

MODULES = sorted(ds.module_docs())


def _options(doc: dict) -> dict[str, dict]:
    opts = {}
    for name, spec in (doc.get("options") or {}).items():
        opts[name] = spec
        for alias in spec.get("aliases", []):
            opts[alias] = spec
    return opts


def _strings(value):
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)


def problems(fqcn: str, data: dict, inventory: dict, generators: set[str]) -> list[str]:
    out = []
    doc = data["doc"]
    opts = _options(doc)
    groups = {g for g in inventory if g != "_meta"} | {"all", "ungrouped", "localhost"}
    hosts = set(inventory["_meta"]["hostvars"]) | {"localhost"}
    tasks = yaml.safe_load(data.get("examples") or "") or []
    assert tasks, f"{fqcn}: expected EXAMPLES with at least one task; found none"
    for i, task in enumerate(tasks):
        where = f"{fqcn} EXAMPLES task {i + 1} ({task.get('name', '?')})"
        args = task.get(fqcn)
        if args is None:
            out.append(f"{where}: expected the module called by its FQCN {fqcn}; found keys {sorted(task)}")
            continue
        for key in args:
            if key not in opts:
                out.append(f"{where}: option {key!r} does not exist; options are {sorted(opts)}")
        for name, spec in (doc.get("options") or {}).items():
            if spec.get("required") and name not in args and not set(spec.get("aliases", [])) & set(args):
                out.append(f"{where}: required option {name!r} missing")
        for key, value in args.items():
            spec = opts.get(key) or {}
            values = value if isinstance(value, list) else [value]
            for v in values:
                if spec.get("choices") and isinstance(v, (str, int)) and "{{" not in str(v) \
                        and v not in spec["choices"]:
                    out.append(f"{where}: {key}={v!r} is not one of {spec['choices']}")
        for text in _strings({**args, **{k: v for k, v in task.items() if k in ("delegate_to", "when", "loop")}}):
            for group in re.findall(r"groups\[['\"]([^'\"]+)['\"]\]", text):
                if group not in groups:
                    out.append(f"{where}: group {group!r} is not an inventory group (groups: phaseN, tags, classes)")
        machine = args.get("machine") or args.get("host")
        if isinstance(machine, str) and "{{" not in machine and machine not in hosts:
            out.append(f"{where}: machine {machine!r} is not in the clan inventory ({sorted(hosts)})")
        delegate = task.get("delegate_to")
        if isinstance(delegate, str) and "{{" not in delegate and delegate not in hosts:
            out.append(f"{where}: delegate_to {delegate!r} is not an inventory host")
        if fqcn.endswith(".clan_vars"):
            for gen in args.get("generators") or []:
                # Declared names are templates: zerotier-identity is zerotier-identity-<machine> on a host.
                if "{{" not in gen and not any(gen == g or gen.startswith(g + "-") for g in generators):
                    out.append(f"{where}: generator {gen!r} is not declared by the flake ({sorted(generators)})")
    return out


@pytest.fixture(scope="module")
def generators() -> set[str]:
    return set(nixsupport.nix_eval("fleet.generators", apply="builtins.attrNames"))


@pytest.mark.nix
@pytest.mark.parametrize("fqcn", MODULES)
def test_module_examples_are_valid(fqcn: str, generators: set[str]) -> None:
    found = problems(fqcn, ds.module_docs()[fqcn], ds.inventory(), generators)
    assert not found, "\n".join(found)


def test_validator_catches_the_known_mistakes() -> None:
    """The validator itself: a wrong group, a missing generator, an unknown option."""
    data = {"doc": {"options": {"machine": {"required": True}, "generators": {"type": "list"},
                                "action": {"choices": ["generate", "check"]}}},
            "examples": "- name: x\n  fleet.migration.clan_vars:\n    machine: nosuch\n    generators: [ghost-gen]\n"
                        "    action: frobnicate\n    colour: red\n  loop: \"{{ groups['phase_1'] }}\"\n"}
    inventory = {"phase1": {}, "_meta": {"hostvars": {"cinnabar": {}}}}
    found = "\n".join(problems("fleet.migration.clan_vars", data, inventory, {"openssh"}))
    assert "group 'phase_1' is not an inventory group" in found
    assert "generator 'ghost-gen' is not declared by the flake" in found
    assert "option 'colour' does not exist" in found
    assert "action='frobnicate' is not one of" in found
    assert "machine 'nosuch' is not in the clan inventory" in found


def inventory_example_problems(doc: dict, examples: str, inventory: dict) -> list[str]:
    """Inventory source examples: options exist; groups their keyed_groups make exist for real."""
    out = []
    opts = set(_options(doc)) | {"plugin"}
    real_groups = {g for g in inventory if g != "_meta"}
    hostvars = inventory["_meta"]["hostvars"]
    for i, example in enumerate(yaml.safe_load_all(examples)):
        for key in example or {}:
            if key not in opts:
                out.append(f"inventory EXAMPLES document {i + 1}: option {key!r} does not exist")
        for kg in (example or {}).get("keyed_groups", []):
            for host, hv in hostvars.items():
                if kg["key"] in hv and isinstance(hv[kg["key"]], (str, int)):
                    group = f"{kg.get('prefix', '')}{kg.get('separator', '_')}{hv[kg['key']]}"
                    if group not in real_groups:
                        out.append(f"inventory EXAMPLES document {i + 1}: keyed group {group!r} (host {host}) is not "
                                   f"a group of the real inventory; phases are the groups phaseN")
                        break
    return out


def test_inventory_plugin_examples_are_valid() -> None:
    proc = ds.run([str(ds.VENV_BIN / "ansible-doc"), "--json", "-t", "inventory", "fleet.migration.clan"])
    data = ds.json.loads(proc.stdout)["fleet.migration.clan"]
    found = inventory_example_problems(data["doc"], data["examples"], ds.inventory())
    assert not found, "\n".join(found)


def test_inventory_validator_catches_phase_underscore() -> None:
    inventory = {"phase1": {}, "_meta": {"hostvars": {"cinnabar": {"fleet_phase": 1}}}}
    found = inventory_example_problems({"options": {"keyed_groups": {}}},
                                       "plugin: x\nkeyed_groups:\n  - key: fleet_phase\n    prefix: phase\n"
                                       "    separator: _\n", inventory)
    assert found and "keyed group 'phase_1' (host cinnabar) is not a group of the real inventory" in found[0]
