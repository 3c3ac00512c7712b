"""The darwin workstations evaluated with the real nix against the legacy baseline.

Each host is evaluated ONCE per session (one `nix eval` per host, through
roles/regression_verify/files/extract.nix) and all tests read that result.
Offline there is no nixpkgs, so `pkgs` is the test-only stand-in
tests/nix/stub-pkgs (every package a named placeholder); option values are the
real ones of nix-darwin and home-manager.
"""
from __future__ import annotations

import functools
import json
import os
import subprocess
import tempfile
from pathlib import Path

import pytest
import yaml
from ansible_collections.fleet.migration.plugins.filter import baseline as B
from support import nix as nixsupport

REPO = Path(__file__).resolve().parents[2]
EXTRACT = REPO / "roles" / "regression_verify" / "files" / "extract.nix"
STUB = REPO / "tests" / "nix" / "stub-pkgs"
BASELINE_FILE = nixsupport.SHARED / "baseline" / "legacy-workstations.json"

pytestmark = pytest.mark.nix

# Extra option paths the hand-written tests below read (beyond the baseline's).
EXTRA_QUERIES = [
    ("value", ["networking", "hostName"]),
    ("value", ["homebrew", "brews"]),
    ("value", ["homebrew", "casks"]),
    ("value", ["home-manager", "users", "crs58", "programs", "nushell", "shellAliases"]),
    ("value", ["home-manager", "users", "raquel", "programs", "git", "settings", "user"]),
    ("value", ["home-manager", "users", "runner", "programs", "git", "settings", "user"]),
    ("value", ["home-manager", "users", "runner", "programs", "bash", "enable"]),
    ("value", ["home-manager", "users", "raquel", "programs", "neovim", "enable"]),
    ("value", ["home-manager", "users", "crs58", "programs", "neovim", "enable"]),
    ("value", ["home-manager", "users", "crs58", "home", "sessionVariables"]),
    ("value", ["home-manager", "users", "raquel", "home", "file", ".config/git/allowed_signers", "text"]),
    ("value", ["users", "users", "crs58", "openssh", "authorizedKeys", "keys"]),
    ("packages", ["environment", "systemPackages"]),
    ("names", ["services", "colima"]),
    ("value", ["home-manager", "users", "crs58", "programs", "zsh", "initContent"]),
]


def _baseline() -> dict:
    if not BASELINE_FILE.exists():
        pytest.skip(f"{BASELINE_FILE} is not present")
    return json.loads(BASELINE_FILE.read_text())


@functools.cache
def legacy_map() -> dict:
    return nixsupport.nix_eval("fleet.legacyBaseline")


def _extract(host: str, queries: list[dict], extra_modules: str = "[ ]") -> dict:
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(queries, f)
    try:
        apply = (f'import {EXTRACT} {{ queriesFile = "{f.name}"; stubPkgs = {STUB}; '
                 f"extraModules = {extra_modules}; }}")
        return nixsupport.nix_eval(f"darwinConfigurations.{host}", apply=apply, extra=("--impure",))
    finally:
        os.unlink(f.name)


def _items(host: str) -> list[dict]:
    return B.baseline_items(_baseline(), host, legacy_map()[host])


def _queries(items: list[dict]) -> list[dict]:
    extra = [{"key": f"{kind}:{json.dumps(path)}", "kind": kind, "path": path} for kind, path in EXTRA_QUERIES]
    return B.baseline_queries(items) + extra


@functools.cache
def evaluated(host: str) -> tuple[list[dict], dict]:
    """(baseline items, extract.nix results) of `host`, evaluated once per session."""
    items = _items(host)
    return items, _extract(host, _queries(items))


def value(host: str, path: list[str], kind: str = "value"):
    res = evaluated(host)[1][f"{kind}:{json.dumps(path)}"]
    assert res["ok"], res
    return res["value"]


@functools.cache
def decisions() -> dict:
    return yaml.safe_load((REPO / "docs" / "baseline-decisions.yml").read_text())


def _darwin_hosts() -> list[str]:
    """The darwin machines of the clan inventory (the machine list lives there only)."""
    if not nixsupport.have_nix():
        return []
    return sorted(n for n, m in nixsupport.inventory().items() if m.get("machineClass") == "darwin")


HOSTS = _darwin_hosts()
LEGACY_HOSTS = ["blackphos", "stibnite"]  # the hosts legacy-workstations.json describes


@pytest.mark.slow
def test_every_darwin_host_has_a_legacy_baseline():
    assert HOSTS and sorted(legacy_map()) == HOSTS


@pytest.mark.slow
@pytest.mark.parametrize("host", HOSTS)
def test_no_baseline_item_regressed(host):
    items, results = evaluated(host)
    result = B.baseline_compare(items, results, decisions(), host)
    assert result["messages"] == []
    assert result["passed"] > 2000  # the review really compared values, not only decisions


@pytest.mark.slow
def test_every_recorded_decision_is_still_needed():
    """A decision that covers nothing any more must be deleted, not left to hide a future regression."""
    unused = None
    for host in LEGACY_HOSTS:
        items, results = evaluated(host)
        host_unused = set(B.baseline_compare(items, results, decisions(), host)["unused_decisions"])
        unused = host_unused if unused is None else unused & host_unused
    assert unused == set()


def test_every_new_hosts_users_are_a_recorded_assumption():
    """A host the legacy baseline does not describe has no legacy users to keep: its
    users (flake.fleet.hostUsers, its machine file) are an assumption the owner
    confirms, recorded in docs/baseline-decisions.yml with exactly those users."""
    new_hosts = sorted(set(HOSTS) - set(_baseline()["hosts"]))
    assert new_hosts, "every darwin host is in the legacy baseline; nothing to assume"
    host_users = nixsupport.nix_eval("fleet.hostUsers")
    entries = [e for e in decisions().get("behaviour_changes", []) if e.get("assumed_users")]
    recorded = {h: users for e in entries for h, users in e["assumed_users"].items()}
    assert sorted(recorded) == new_hosts, f"assumed users recorded for {sorted(recorded)}, new hosts are {new_hosts}"
    for entry in entries:
        assert entry["decision"] == "manual" and entry["reason"].startswith("ASSUMPTION"), entry["id"]
        assert sorted(entry["hosts"]) == sorted(entry["assumed_users"]), entry["id"]
        for host in entry["assumed_users"]:
            assert f"other.hostUsers[{host}]" in entry["items"], (entry["id"], host)
    for host in new_hosts:
        assert recorded[host] == host_users[host], (
            f"{host}: docs/baseline-decisions.yml assumes users {recorded[host]}, "
            f"modules/machines/darwin/{host}.nix has {host_users[host]}; update the assumption")


@pytest.mark.slow
def test_hosts_of_the_blackphos_pattern_differ_only_in_their_name():
    followers = [h for h, legacy in legacy_map().items() if legacy == "blackphos" and h != "blackphos"]
    assert followers, "no host follows the blackphos pattern"
    _name, black = evaluated("blackphos")
    for host in followers:
        _name, other = evaluated(host)
        differing = sorted(k for k in black if black[k] != other.get(k))
        assert differing == ['value:["networking", "hostName"]'], host
        assert other['value:["networking", "hostName"]']["value"] == host


@pytest.mark.slow
def test_homebrew_lists_per_host_match_the_baseline():
    base = _baseline()["hosts"]
    for host in LEGACY_HOSTS:
        casks = sorted(c["name"] for c in value(host, ["homebrew", "casks"]))
        brews = sorted(b["name"] for b in value(host, ["homebrew", "brews"]))
        # zerotier-one: the official mesh client, added by @fleet/zerotier (docs/baseline-decisions.yml
        # behaviour_changes darwin-zerotier-official-client), not a legacy cask.
        assert casks == sorted(base[host]["homebrew"]["casks"] + ["zerotier-one"]), host
        assert brews == sorted(base[host]["homebrew"]["brews"]), host
        assert value(host, ["homebrew", "masApps"]) == base[host]["homebrew"]["masApps"]
        assert value(host, ["homebrew", "onActivation", "cleanup"]) == "uninstall"


@pytest.mark.slow
def test_every_system_default_has_the_baseline_value():
    base = _baseline()["hosts"]["blackphos"]["systemDefaults"]
    for domain, keys in base.items():
        found = value("blackphos", ["system", "defaults", domain])
        for key, expected in keys.items():
            got = found[key]
            if key == "persistent-apps":
                got = [e["tile-data"]["file-data"]["_CFURLString"] for e in got]
            assert got == expected, f"system.defaults.{domain}.{key}"


@pytest.mark.slow
def test_touch_id_sudo_and_nix_settings():
    assert value("blackphos", ["security", "pam", "services", "sudo_local", "touchIdAuth"]) is True
    assert value("blackphos", ["nix", "gc", "interval", "Weekday"]) == 5
    assert value("blackphos", ["nix", "gc", "options"]) == "--delete-older-than 14d"
    assert "auto-allocate-uids" in value("blackphos", ["nix", "settings", "experimental-features"])
    assert value("blackphos", ["nix", "settings", "trusted-users"])[-1] == nixsupport.nix_eval("fleet.admin")
    assert value("stibnite", ["nix", "linux-builder", "enable"]) is False


@pytest.mark.slow
def test_colima_only_on_stibnite():
    scripts = {"colima", "colima-init", "colima-stop", "colima-restart"}
    assert scripts <= set(value("stibnite", ["environment", "systemPackages"], "packages"))
    assert not scripts & set(value("blackphos", ["environment", "systemPackages"], "packages"))
    assert value("stibnite", ["services", "colima", "runtime"]) == "incus"
    assert value("stibnite", ["launchd", "user", "agents", "colima"]) == B.MISSING


@pytest.mark.slow
def test_colima_zsh_completion_only_where_colima_is():
    """Baseline homeUsers.crs58@all.hostSpecific.stibnite: the admin's zsh loads colima's
    completion (legacy modules/home/darwin-only/colima.nix); no other host has it."""
    line = 'eval "$(colima completion zsh)"'
    baseline = _baseline()["homeUsers"]["crs58@all"]["hostSpecific"]
    assert "colima completion zsh" in baseline["stibnite"]["programs.zsh.initContent (extra)"]
    for host in LEGACY_HOSTS:
        init = value(host, ["home-manager", "users", "crs58", "programs", "zsh", "initContent"])
        assert (line in init) == ("colima" in json.dumps(baseline.get(host, {}))), host


@pytest.mark.slow
def test_user_facts_reach_their_homes():
    raquel = value("blackphos", ["home-manager", "users", "raquel", "programs", "git", "settings", "user"])
    assert raquel == {"name": "Someone Local", "email": "raquel@localhost"}
    runner = value("blackphos", ["home-manager", "users", "runner", "programs", "git", "settings", "user"])
    assert runner == {"name": "GitHub Actions Runner", "email": "runner@localhost"}
    assert value("blackphos", ["home-manager", "users", "runner", "programs", "bash", "enable"]) is True
    assert value("blackphos", ["home-manager", "users", "raquel", "programs", "neovim", "enable"]) is False
    assert value("blackphos", ["home-manager", "users", "crs58", "programs", "neovim", "enable"]) is True
    signers = value("blackphos", ["home-manager", "users", "raquel", "home", "file", ".config/git/allowed_signers",
                                  "text"])
    assert signers.startswith('raquel@localhost namespaces="git" ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAIBd')
    # The admin's NIX_PATH comes from the system; only the formerly standalone users set it.
    assert "NIX_PATH" not in value("blackphos", ["home-manager", "users", "crs58", "home", "sessionVariables"])


@pytest.mark.slow
def test_nushell_aliases_are_the_shell_aliases():
    aliases = value("blackphos", ["home-manager", "users", "crs58", "home", "shellAliases"])
    assert value("blackphos", ["home-manager", "users", "crs58", "programs", "nushell", "shellAliases"]) == aliases
    assert aliases == _baseline()["homeUsers"]["crs58@all"]["shellAliases"]


@pytest.mark.slow
def test_admin_keys_come_once_from_the_inventory():
    keys = value("blackphos", ["users", "users", "crs58", "openssh", "authorizedKeys", "keys"])
    assert keys == _baseline()["hosts"]["blackphos"]["other"]["users.users.crs58.openssh.authorizedKeys.keys"]


@pytest.mark.slow
def test_the_review_notices_a_removed_item():
    """Same evaluation with one cask and one alias taken away: the review must fail on exactly those."""
    host = "blackphos"
    removed = ("homebrew.casks[zoom]", "home.crs58.shellAliases.lg", "system.defaults.dock.autohide")
    items = [i for i in _items(host) if i["id"] in removed]
    casks = [c for c in _baseline()["hosts"][host]["homebrew"]["casks"] if c != "zoom"]
    extra = ("[ ({ lib, ... }: { homebrew.casks = lib.mkForce (builtins.fromJSON ''" + json.dumps(casks) + "''); "
             "home-manager.users.crs58.home.shellAliases.lg = lib.mkForce \"lazygit --debug\"; }) ]")
    results = _extract(host, B.baseline_queries(items), extra_modules=extra)
    result = B.baseline_compare(items, results, decisions(), host)
    assert sorted(f["item"] for f in result["failures"]) == ["home.crs58.shellAliases.lg", "homebrew.casks[zoom]"]
    assert result["passed"] == 1


@pytest.mark.parametrize(
    ("module", "read", "option"),
    [
        ("{ system.defaults.dock.not-a-default = true; }", "system.primaryUser",
         "system.defaults.dock.not-a-default"),
        ("{ home-manager.users.crs58.programs.not-a-program.enable = true; }",
         "home-manager.users.crs58.home.username", "home-manager.users.crs58.programs.not-a-program"),
    ],
)
def test_an_unknown_option_fails_with_nix_own_message(module, read, option):
    with pytest.raises(subprocess.CalledProcessError) as err:
        nixsupport.nix_eval(
            "darwinConfigurations.blackphos",
            apply=(f"c: (c.extendModules {{ modules = [ ({{ lib, ... }}: {{ nixpkgs.pkgs = import {STUB} "
                   f"{{ inherit lib; }}; }}) {module} ]; }}).config.{read}"),
            extra=("--impure",),
        )
    assert f"The option `{option}' does not exist" in err.value.stderr


def _users_aspect(users: str, instances: str) -> str:
    """Evaluate modules/darwin/users.nix alone with the given user facts and inventory instances,
    and the admin that modules/users/admin.nix derives from those facts."""
    return nixsupport.nix_eval(
        "darwinConfigurations.blackphos",
        apply=("c: let flake = c._module.specialArgs.self; lib = flake.inputs.nixpkgs.lib; "
               f"users = {users}; "
               "admin = (import (flake + \"/modules/users/admin.nix\") "
               "{ inherit lib; config.flake.fleet.users = users; }).flake.fleet.admin; "
               f"m = import (flake + \"/modules/darwin/users.nix\") {{ inherit lib; config.flake = "
               f"{{ fleet = {{ inherit users admin; }}; clan.inventory.instances = {instances}; }}; }}; "
               "in (m.flake.modules.darwin.users { pkgs = { zsh = null; }; }).system.primaryUser"),
    )


@pytest.mark.parametrize(
    ("users", "instances", "message"),
    [
        ('{ a = { name = "a"; admin = true; sshKeys = [ ]; }; b = { name = "b"; admin = true; sshKeys = [ ]; }; }',
         "{ }",
         ("modules/users: expected exactly one user with admin = true, found 2 (a b); mark the workstation admin "
          "in modules/users/<name>.nix")),
        ('{ a = { name = "a"; admin = true; sshKeys = [ ]; }; }', "{ }",
         ("clan inventory: the workstation admin 'a' has no @fleet/users instance tagged workstation; add "
          "modules/clan/inventory/instances/users-a.nix (see users-crs58.nix)")),
    ],
)
def test_the_admin_must_be_unique_and_declared_in_the_inventory(users, instances, message):
    with pytest.raises(subprocess.CalledProcessError) as err:
        _users_aspect(users, instances)
    assert message in " ".join(err.value.stderr.split())


def test_the_admin_declared_in_the_inventory_is_the_primary_user():
    users = '{ a = { name = "a"; admin = true; sshKeys = [ ]; }; b = { name = "b"; admin = false; sshKeys = [ ]; }; }'
    assert _users_aspect(users, "{ users-a.roles.default.tags.workstation = { }; }") == "a"


def test_the_stand_in_pkgs_is_only_used_by_tests():
    """The stub may be named only under tests/ (and as the role's test-only variable)."""
    offenders = []
    for top in ("modules", "playbooks", "inventory", "plugins"):
        for path in (REPO / top).rglob("*"):
            if path.is_file() and "stub-pkgs" in path.read_text(errors="ignore"):
                offenders.append(str(path.relative_to(REPO)))
    assert offenders == []
