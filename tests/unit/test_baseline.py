"""Unit tests of the zero-regression comparison (plugins/filter/baseline.py).

They use small hand-written baselines and results, plus the real baseline and
decisions file where the test is about those files (no nix needed).
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import yaml
from ansible_collections.fleet.migration.plugins.filter import baseline as B

REPO = Path(__file__).resolve().parents[2]
BASELINE_FILE = Path(os.environ.get("FLEET_SHARED", REPO.parent / "shared")) / "baseline" / "legacy-workstations.json"
DECISIONS_FILE = REPO / "docs" / "baseline-decisions.yml"

MINI = {
    "hosts": {
        "blackphos": {
            "homebrew": {
                "enable": True,
                "onActivation": {"cleanup": "uninstall"},
                "casks": ["zoom", "zed"],
                "masApps": {"whatsapp": 310633997},
                "fontCasksDefinedButNotInstalled": ["font-inter"],
            },
            "systemDefaults": {
                "dock": {"autohide": True, "persistent-apps": ["/Applications/Zed.app"], "tilesize": 48},
                "NSGlobalDomain": {"AppleFontSmoothing": None},
            },
            "security": {"pam.services.sudo_local.touchIdAuth": True},
            "nix": {
                "settings": {
                    "experimental-features": "nix-command flakes",
                    "trusted-users": ["root", "crs58"],
                    "flake-registry": 'builtins.toFile "empty-flake-registry.json" with content {}',
                },
                "gc": {"automatic": True, "interval": {"Hour": 21}},
                "nixPath": ["nixpkgs=${flake.inputs.nixpkgs}"],
            },
            "services": {"services.tailscale": {"enable": True}},
            "other": {"system.primaryUser": "crs58", "nixpkgs.overlays": ["self.overlays.default"]},
        }
    },
    "homeUsers": {
        "crs58@all": {
            "home.username": "crs58",
            "programsEnabled": ["git"],
            "packages": ["ripgrep", "python312"],
            "shellAliases": {"g": "git"},
            "files": [".config/git/allowed_signers"],
            "programSettings": {
                "git": {"userName": "Cameron Smith", "package": "gitFull"},
                "tmux": {
                    "plugins": ["tmuxPlugins.resurrect"],
                    "pluginOptions": {"tmuxPlugins.resurrect": {"@resurrect-capture-pane-contents": "on"}},
                },
                "macchina (~/.config/macchina/)": {"macchina.toml": {"theme": "custom"}},
            },
        },
        "raquel@stibnite": {"home.username": "raquel"},
    },
}

# What extract.nix would answer for a configuration that keeps everything in MINI.
GOOD_VALUES = {
    ("value", ("homebrew", "enable")): True,
    ("value", ("homebrew", "onActivation", "cleanup")): "uninstall",
    ("value", ("homebrew", "casks")): [{"name": "zoom", "greedy": None}, {"name": "zed", "greedy": None}],
    ("value", ("homebrew", "masApps")): {"whatsapp": 310633997},
    ("value", ("system", "defaults", "dock")): {
        "autohide": True,
        "tilesize": 48,
        "persistent-apps": [{"tile-data": {"file-data": {"_CFURLString": "/Applications/Zed.app"}}}],
    },
    ("value", ("system", "defaults", "NSGlobalDomain")): {"AppleFontSmoothing": None},
    ("value", ("security", "pam", "services", "sudo_local", "touchIdAuth")): True,
    ("value", ("nix", "settings", "experimental-features")): ["nix-command", "flakes", "auto-allocate-uids"],
    ("value", ("nix", "settings", "trusted-users")): ["root", "root", "crs58"],
    ("value", ("nix", "settings", "flake-registry")): "/nix/store/abc-empty-flake-registry.json",
    ("value", ("nix", "gc", "automatic")): True,
    ("value", ("nix", "gc", "interval", "Hour")): 21,
    ("value", ("nix", "nixPath")): ["nixpkgs=/nix/store/0123abc-source"],
    ("value", ("services", "tailscale", "enable")): True,
    ("value", ("system", "primaryUser")): "crs58",
    ("value", ("home-manager", "users", "crs58", "home", "username")): "crs58",
    ("value", ("home-manager", "users", "crs58", "programs", "git", "enable")): True,
    ("packages", ("home-manager", "users", "crs58", "home", "packages")): ["ripgrep", "python312.withPackages"],
    ("value", ("home-manager", "users", "crs58", "home", "shellAliases")): {"g": "git"},
    ("value", ("home-manager", "users", "crs58", "home", "file")): {
        ".config/git/allowed_signers": {"target": ".config/git/allowed_signers"}
    },
    ("value", ("home-manager", "users", "crs58", "programs", "git", "settings", "user", "name")): "Cameron Smith",
    ("value", ("home-manager", "users", "crs58", "programs", "git", "package")): {"__pkg__": "git"},
    ("value", ("home-manager", "users", "crs58", "programs", "tmux", "plugins")): [
        {"plugin": {"__pkg__": "tmuxPlugins.resurrect"},
         "extraConfig": 'set -g @resurrect-capture-pane-contents "on"\n'},
    ],
    ("value", ("home-manager", "users", "crs58", "home", "file", ".config/macchina/macchina.toml", "text")):
        'theme = "custom"\n',
}


def results_for(items: list[dict], values: dict) -> dict:
    """extract.nix's answer shape for `values` (missing paths -> __missing__)."""
    out = {}
    for q in B.baseline_queries(items):
        key = (q["kind"], tuple(q["path"]))
        out[q["key"]] = {"ok": True, "value": values.get(key, dict(B.MISSING))}
    return out


def review(values: dict, decisions: list | None = None, host: str = "blackphos") -> dict:
    items = B.baseline_items(MINI, host, "blackphos")
    return B.baseline_compare(items, results_for(items, values), {"decisions": decisions or []}, host)


TAILSCALE = {"id": "ts", "items": ["services.tailscale.*"], "decision": "replaced", "replacement": "zerotier",
             "reason": "mesh"}
OVERLAYS = {"id": "ov", "items": ["other.nixpkgs.overlays"], "decision": "dropped", "reason": "gone"}


def test_a_configuration_that_keeps_everything_passes():
    result = review(GOOD_VALUES, [OVERLAYS])
    assert result["failures"] == []
    assert result["ok"] is True
    assert result["passed"] == result["checked"] - 1  # the descriptive overlays entry is accepted


def test_a_removed_cask_fails_with_host_item_expected_found_and_action():
    values = dict(GOOD_VALUES)
    values[("value", ("homebrew", "casks"))] = [{"name": "zed"}]
    result = review(values, [OVERLAYS])
    assert not result["ok"]
    [failure] = result["failures"]
    assert failure["item"] == "homebrew.casks[zoom]"
    assert failure["message"] == (
        'host blackphos: baseline item homebrew.casks[zoom] regressed: expected zoom, found ["zed"]; '
        "restore it in the host's aspects (option homebrew.casks) or record a decision for it in "
        "docs/baseline-decisions.yml"
    )


def test_an_installed_font_cask_that_should_stay_uninstalled_fails():
    values = dict(GOOD_VALUES)
    values[("value", ("homebrew", "casks"))] = [{"name": "zoom"}, {"name": "zed"}, {"name": "font-inter"}]
    assert [f["item"] for f in review(values, [OVERLAYS])["failures"]] == ["homebrew.casks[font-inter]=absent"]


def test_descriptive_entries_need_a_decision():
    result = review(GOOD_VALUES)
    assert [f["item"] for f in result["failures"]] == ["other.nixpkgs.overlays"]


def test_a_decision_accepts_matching_items_and_only_those():
    values = dict(GOOD_VALUES)
    values[("value", ("services", "tailscale", "enable"))] = False
    values[("value", ("system", "primaryUser"))] = "root"
    result = review(values, [TAILSCALE, OVERLAYS])
    assert [a["item"] for a in result["accepted"]] == ["services.tailscale.enable", "other.nixpkgs.overlays"]
    assert [f["item"] for f in result["failures"]] == ["other.system.primaryUser"]


def test_decision_patterns_treat_brackets_literally():
    values = dict(GOOD_VALUES)
    values[("packages", ("home-manager", "users", "crs58", "home", "packages"))] = ["python312"]
    decision = {"id": "rg", "items": ["home.*.packages[ripgrep]"], "decision": "dropped", "reason": "x"}
    result = review(values, [decision, OVERLAYS])
    assert result["failures"] == []
    # `[r]` must not act as a character class.
    other = {"id": "r", "items": ["home.*.packages[r]"], "decision": "dropped", "reason": "x"}
    assert [f["item"] for f in review(values, [other, OVERLAYS])["failures"]] == ["home.crs58.packages[ripgrep]"]


def test_missing_results_and_evaluation_errors_fail_closed():
    items = B.baseline_items(MINI, "blackphos")
    results = results_for(items, GOOD_VALUES)
    key = B.query_key(next(i for i in items if i["id"] == "other.system.primaryUser"))
    results[key] = {"ok": False, "error": "evaluation failed (throw or assertion) at system.primaryUser"}
    del results[B.query_key(next(i for i in items if i["id"] == "homebrew.enable"))]
    failures = {f["item"]: f["found"] for f in B.baseline_compare(items, results, {"decisions": [OVERLAYS]},
                                                                  "blackphos")["failures"]}
    assert failures == {
        "homebrew.enable": "(not evaluated: the query is missing from the nix results)",
        "other.system.primaryUser": "(evaluation error: evaluation failed (throw or assertion) at system.primaryUser)",
    }


@pytest.mark.parametrize(
    ("key", "bad", "item"),
    [
        (("value", ("system", "defaults", "dock")),
         {"autohide": True, "tilesize": 48, "persistent-apps": []}, "system.defaults.dock.persistent-apps"),
        (("value", ("system", "defaults", "dock")),
         {"autohide": 1, "tilesize": 48, "persistent-apps": [{"tile-data": {"file-data": {
             "_CFURLString": "/Applications/Zed.app"}}}]}, "system.defaults.dock.autohide"),
        (("value", ("system", "defaults", "NSGlobalDomain")), {"AppleFontSmoothing": 1},
         "system.defaults.NSGlobalDomain.AppleFontSmoothing"),
        (("value", ("nix", "settings", "experimental-features")), ["flakes"], "nix.settings.experimental-features"),
        (("value", ("nix", "settings", "trusted-users")), ["root"], "nix.settings.trusted-users"),
        (("value", ("nix", "settings", "flake-registry")), "/etc/nix/registry.json", "nix.settings.flake-registry"),
        (("value", ("nix", "nixPath")), ["nixpkgs=/etc/channels/nixpkgs"],
         "nix.nixPath[nixpkgs=${flake.inputs.nixpkgs}]"),
        (("packages", ("home-manager", "users", "crs58", "home", "packages")), ["ripgrep"],
         "home.crs58.packages[python312]"),
        (("value", ("home-manager", "users", "crs58", "programs", "git", "package")), {"__pkg__": "hg"},
         "home.crs58.programSettings.git.package"),
        (("value", ("home-manager", "users", "crs58", "programs", "tmux", "plugins")),
         [{"plugin": {"__pkg__": "tmuxPlugins.resurrect"}, "extraConfig": ""}],
         "home.crs58.programSettings.tmux.pluginOptions.tmuxPlugins.resurrect.@resurrect-capture-pane-contents"),
        (("value", ("home-manager", "users", "crs58", "home", "file", ".config/macchina/macchina.toml", "text")),
         'theme = "default"\n', "home.crs58.programSettings.macchina.macchina.toml.theme"),
        (("value", ("home-manager", "users", "crs58", "home", "file")), {},
         "home.crs58.files[.config/git/allowed_signers]"),
    ],
)
def test_each_kind_of_check_can_fail(key, bad, item):
    values = dict(GOOD_VALUES)
    values[key] = bad
    assert [f["item"] for f in review(values, [OVERLAYS])["failures"]] == [item]


def test_unknown_legacy_host_is_an_error_naming_the_fix():
    with pytest.raises(ValueError, match=r"host galena: no baseline for legacy host 'galena' \(baseline has "
                                         r"\['blackphos'\]\); set regression_verify_baseline_host"):
        B.baseline_items(MINI, "galena")


def test_users_follow_the_legacy_host():
    ids = {i["id"] for i in B.baseline_items(MINI, "rosegold", "blackphos")}
    assert "home.crs58.home.username" in ids
    assert not any(i.startswith("home.raquel.") for i in ids)  # raquel@stibnite only


def test_sops_placeholders_compare_by_shape():
    item = B._item("t", ["x"], {"a": "Bearer <sops placeholder mcp-token>"}, match="json-text-placeholders")
    ok, _why = B._check(item, json.dumps({"a": "Bearer <SOPS:0123abcd:PLACEHOLDER>"}))
    assert ok
    ok, _why = B._check(item, json.dumps({"a": "Bearer plaintext"}))
    assert not ok


def test_decisions_check_reports_each_problem():
    problems = B.baseline_decisions_check({"decisions": [
        {"id": "a", "items": ["x"], "decision": "replaced", "reason": "r"},
        {"id": "a", "items": ["y"], "decision": "deferred", "reason": "r"},
        {"id": "c", "items": ["z"], "decision": "forgotten", "reason": "r"},
        {"items": ["w"], "decision": "dropped"},
    ]})
    assert problems == [
        "decision #0 (a): a `replaced` decision must name its `replacement`",
        "decision #1 (a): a deferred decision must say what has to happen (`action`)",
        "decision #1 (a): duplicate id",
        ("decision #2 (c): decision must be one of ['changed', 'deferred', 'dropped', 'manual', 'replaced'], "
         "got forgotten"),
        "decision #3 (no id): missing `id`",
        "decision #3 (no id): missing `reason`",
    ]
    assert B.baseline_decisions_check([]) == ["docs/baseline-decisions.yml: expected a top-level `decisions:` list"]


# --- the real files -----------------------------------------------------------


@pytest.fixture(scope="module")
def real_baseline() -> dict:
    if not BASELINE_FILE.exists():
        pytest.skip(f"{BASELINE_FILE} is not present")
    return json.loads(BASELINE_FILE.read_text())


@pytest.fixture(scope="module")
def real_decisions() -> dict:
    return yaml.safe_load(DECISIONS_FILE.read_text())


def test_the_decisions_file_is_valid(real_decisions):
    assert B.baseline_decisions_check(real_decisions) == []


@pytest.mark.parametrize("host", ["blackphos", "stibnite"])
def test_every_system_default_of_the_baseline_is_an_item(real_baseline, host):
    ids = {i["id"] for i in B.baseline_items(real_baseline, host)}
    for domain, keys in real_baseline["hosts"][host]["systemDefaults"].items():
        for key in keys:
            assert f"system.defaults.{domain}.{key}" in ids


@pytest.mark.parametrize("host", ["blackphos", "stibnite"])
def test_every_homebrew_entry_and_user_package_is_an_item(real_baseline, host):
    ids = {i["id"] for i in B.baseline_items(real_baseline, host)}
    brew = real_baseline["hosts"][host]["homebrew"]
    for group in ("taps", "brews", "casks"):
        assert {f"homebrew.{group}[{n}]" for n in brew[group]} <= ids
    assert {f"homebrew.masApps.{n}" for n in brew["masApps"]} <= ids
    for key, user in real_baseline["homeUsers"].items():
        login, _sep, where = key.partition("@")
        if where in ("all", host):
            assert {f"home.{login}.packages[{p}]" for p in user["packages"]} <= ids
            assert {f"home.{login}.shellAliases.{a}" for a in user["shellAliases"]} <= ids


@pytest.mark.parametrize("host", ["blackphos", "stibnite"])
def test_every_descriptive_entry_has_a_decision(real_baseline, real_decisions, host):
    """Prose entries can never be read from a configuration, so each needs a recorded decision."""
    items = [i for i in B.baseline_items(real_baseline, host) if i["match"] == "descriptive"]
    assert items
    result = B.baseline_compare(items, {}, real_decisions, host)
    assert result["failures"] == []
