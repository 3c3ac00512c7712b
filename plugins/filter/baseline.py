# Copyright: (c) 2026, fleet.migration contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Zero-regression review of a migrated macOS workstation.

The legacy baseline (legacy-workstations.json) lists what each workstation and
its users had. This module turns it into *items* -- one checkable fact each,
with the option path where the new configuration keeps it -- builds the queries
that roles/regression_verify/files/extract.nix answers from `nix eval`, and
compares the answers with the expectations. Items that the new configuration
intentionally does not keep must be listed in docs/baseline-decisions.yml;
everything else that differs is a failure naming host, item, expected, found
and what to do.

Filters: baseline_items, baseline_queries, baseline_compare, baseline_decisions_check.
"""
from __future__ import annotations

import json
import re
import tomllib
from typing import Any

# Filter documentation: the YAML files next to this one (baseline_items.yml, ...).

# Marker in extract.nix's output for a path that does not exist in the configuration.
MISSING = {"__missing__": True}

# The new home of a legacy home-manager option whose name changed upstream
# (home-manager moved git's identity and aliases under programs.git.settings).
GIT_RENAMES = {
    "userName": ["settings", "user", "name"],
    "userEmail": ["settings", "user", "email"],
    "aliases": ["settings", "alias"],
}

# Baseline program names whose counterpart is another home-manager program.
PROGRAM_RENAMES = {"lazyvim": "neovim"}

# nix.conf settings the legacy config wrote as one space-separated string; now
# lists (clan-core defines some of them too). Compared as sets of words.
WORD_SETTINGS = {"experimental-features", "extra-platforms"}

# Legacy repo-local "programs" whose whole effect was a managed file.
PROGRAM_AS_FILE = {"agents-md": ".claude/CLAUDE.md"}

# programSettings entries that are top-level home-manager options, not programs.*.
TOP_LEVEL_SETTINGS = {"fonts.fontconfig", "xdg", "catppuccin"}

# Baseline values that are Nix expressions written as text; matched by a regex
# against the evaluated value (store paths differ per machine and revision).
EXPRESSION_PATTERNS = {
    "${pkgs.zsh}/bin/zsh": r"^/.*/bin/zsh$",
    "${pkgs.nnn}/plugins": r"^/.*/plugins$",
    "${pkgs.ccstatusline}/bin/ccstatusline": r"^/.*/bin/ccstatusline$",
    "nixpkgs=${flake.inputs.nixpkgs}": r"^nixpkgs=/nix/store/[^/]+-source$",
    "nixpkgs=${pkgs.path}": r"^nixpkgs=/.+",
    "flake.inputs.nixpkgs": r"^/nix/store/[^/]+-source$",
}

# Packages whose pname differs from the nixpkgs attribute the baseline names.
PACKAGE_ALIASES = {
    "gitFull": {"git"},
    "awscli": {"awscli2"},
    "python312": {"python3", "python312.withPackages"},
    "google-cloud-sdk": {"google-cloud-sdk.withExtraComponents"},
    "texlive": {"texlive.combine", "texlive-combined"},
}


def _item(iid: str, query: list[str], expected: Any, match: str = "equal", sub: list[str] | None = None,
          kind: str = "value", source: str = "") -> dict:
    return {
        "id": iid,
        "query": query,
        "kind": kind,
        "sub": sub or [],
        "expected": expected,
        "match": match,
        "source": source or iid,
    }


def _leaves(value: Any, prefix: list[str]) -> list[tuple[list[str], Any]]:
    """Flatten nested dicts to (path, leaf); lists and scalars are leaves."""
    if isinstance(value, dict) and value:
        out: list[tuple[list[str], Any]] = []
        for key, sub in value.items():
            out.extend(_leaves(sub, prefix + [key]))
        return out
    return [(prefix, value)]


def _dotted(path: list[str]) -> str:
    return ".".join(path)


# --- baseline -> items ------------------------------------------------------


def _host_items(host: dict) -> list[dict]:
    items: list[dict] = []
    brew = host.get("homebrew", {})
    for key in ("enable",):
        items.append(_item(f"homebrew.{key}", ["homebrew", key], brew.get(key)))
    for group in ("global", "onActivation", "caskArgs"):
        if group in brew:
            for path, leaf in _leaves(brew[group], [group]):
                items.append(_item("homebrew." + _dotted(path), ["homebrew", *path], leaf))
    for group in ("taps", "brews", "casks"):
        for name in brew.get(group, []):
            items.append(_item(f"homebrew.{group}[{name}]", ["homebrew", group], name, match="named-member"))
    for name, app_id in brew.get("masApps", {}).items():
        items.append(_item(f"homebrew.masApps.{name}", ["homebrew", "masApps"], app_id, sub=[name]))
    for name in brew.get("fontCasksDefinedButNotInstalled", []):
        items.append(_item(f"homebrew.casks[{name}]=absent", ["homebrew", "casks"], name, match="named-absent"))

    for domain, keys in host.get("systemDefaults", {}).items():
        for key, value in keys.items():
            match = "persistent-apps" if key == "persistent-apps" else "equal"
            items.append(_item(f"system.defaults.{domain}.{key}", ["system", "defaults", domain], value,
                               match=match, sub=[key]))

    for key, value in host.get("security", {}).items():
        items.append(_item(f"security.{key}", ["security", *key.split(".")], value))

    nix = host.get("nix", {})
    for key, value in nix.get("settings", {}).items():
        # Lists merge across modules (clan-core and nix-darwin add entries): require ours.
        match = "superset" if isinstance(value, list) else "equal"
        if key in WORD_SETTINGS:
            match = "words"
        if key == "flake-registry":
            match = "flake-registry"
        items.append(_item(f"nix.settings.{key}", ["nix", "settings", key], value, match=match))
    for group in ("gc", "optimise", "linux-builder"):
        if group in nix:
            for path, leaf in _leaves(nix[group], [group]):
                # Query the leaf itself: a whole group (e.g. linux-builder) holds packages.
                items.append(_item("nix." + _dotted(path), ["nix", *path], leaf))
    for entry in nix.get("nixPath", []):
        items.append(_item(f"nix.nixPath[{entry}]", ["nix", "nixPath"], entry, match="expression-member"))
    for name, reg in nix.get("registry", {}).items():
        items.append(_item(f"nix.registry.{name}.flake", ["nix", "registry", name, "to", "path"], reg.get("flake"),
                           match="expression"))

    for svc, settings in host.get("services", {}).items():
        base = svc.split(".")
        for path, leaf in _leaves(settings, []):
            query = base if base[0] == "services" else ["services", *base]
            items.append(_item(f"{svc}.{_dotted(path)}", query + path, leaf))

    for name in host.get("systemPackages", []):
        items.append(_item(f"environment.systemPackages[{name}]", ["environment", "systemPackages"], name,
                           match="package", kind="packages"))

    other = host.get("other", {})
    for key, value in other.items():
        items.extend(_other_item(key, value))
    return items


def _other_item(key: str, value: Any) -> list[dict]:
    iid = f"other.{key}"
    if key == "nixpkgs.hostPlatform":
        return [_item(iid, ["nixpkgs", "hostPlatform", "system"], value)]
    if key.startswith("users.users.") and key.endswith(".shell"):
        user = key.split(".")[2]
        return [_item(iid, ["users", "users", user, "shell"], value.removeprefix("pkgs."), match="package-value")]
    if key.endswith("openssh.authorizedKeys.keys"):
        return [_item(iid, key.split("."), value, match="superset")]
    if key == "home-manager.users":
        return [_item(iid, ["home-manager", "users"], value, match="superset", kind="names")]
    if key == "nixpkgs.config":
        return [_item(f"{iid}.{k}", ["nixpkgs", "config", k], v) for k, v in value.items()]
    if key == "system.activationScripts.colima":
        return [_item(iid, ["system", "activationScripts", "colima", "text"], value, match="non-empty-text")]
    if key == "launchd.user.agents.colima":
        return [_item(iid, ["launchd", "user", "agents", "colima"], value, match="absent")]
    if key == "environment.variables.DOCKER_HOST":
        return [_item(iid, ["environment", "variables", "DOCKER_HOST"], value, match="absent")]
    if isinstance(value, (bool, int, float)) or (isinstance(value, str) and " " not in value and "(" not in key):
        return [_item(iid, key.split("."), value)]
    # Descriptive entries (module lists, overlays, custom.* of the legacy tree):
    # there is no option to read; they need a recorded decision.
    return [_item(iid, [], value, match="descriptive")]


def _user_items(uid: str, user: dict) -> list[dict]:
    """Items of one home-manager user (`uid` is its login name)."""
    hm = ["home-manager", "users", uid]
    pre = f"home.{uid}"
    items: list[dict] = []
    for key in ("home.username", "home.homeDirectory", "home.stateVersion"):
        if key in user:
            items.append(_item(f"{pre}.{key}", hm + key.split("."), user[key]))
    for prog in user.get("programsEnabled", []):
        if prog in PROGRAM_AS_FILE:
            # A legacy repo-local module that only wrote a file; the file is the feature.
            items.append(_item(f"{pre}.programs.{prog}.enable", hm + ["home", "file"], PROGRAM_AS_FILE[prog],
                               match="file-target"))
            continue
        name = PROGRAM_RENAMES.get(prog, prog)
        items.append(_item(f"{pre}.programs.{prog}.enable", hm + ["programs", *name.split("."), "enable"], True))
    for svc in user.get("servicesEnabled", []):
        items.append(_item(f"{pre}.services.{svc}.enable", hm + ["services", svc, "enable"], True))
    for pkg in user.get("packages", []):
        items.append(_item(f"{pre}.packages[{pkg}]", hm + ["home", "packages"], pkg, match="package",
                           kind="packages"))
    for pkg in user.get("packagesAddedByUserFile", []):
        items.append(_item(f"{pre}.packagesAddedByUserFile[{pkg}]", hm + ["home", "packages"], pkg,
                           match="package", kind="packages"))
    for source, pkgs in user.get("packagesFromFlakeInputs", {}).items():
        for pkg in pkgs:
            name = pkg.split(" ")[0]
            items.append(_item(f"{pre}.packagesFromFlakeInputs[{name}]", hm + ["home", "packages"], name,
                               match="package", kind="packages", source=source))
    for script in user.get("customScripts", []):
        items.append(_item(f"{pre}.customScripts[{script}]", hm + ["home", "packages"], script,
                           match="package", kind="packages"))
    for var, value in user.get("sessionVariables", {}).items():
        match = "expression" if "${" in value else "equal"
        items.append(_item(f"{pre}.sessionVariables.{var}", hm + ["home", "sessionVariables"], value,
                           match=match, sub=[var]))
    for entry in user.get("sessionPath", []):
        items.append(_item(f"{pre}.sessionPath[{entry}]", hm + ["home", "sessionPath"], entry, match="member"))
    for alias, value in user.get("shellAliases", {}).items():
        items.append(_item(f"{pre}.shellAliases.{alias}", hm + ["home", "shellAliases"], value, sub=[alias]))
    for target in user.get("files", []):
        items.append(_item(f"{pre}.files[{target}]", hm + ["home", "file"], target, match="file-target"))
    for target, value in user.get("moduleGeneratedFiles", {}).items():
        items.append(_item(f"{pre}.moduleGeneratedFiles[{target}]", [], value, match="descriptive"))
    for activation in user.get("activation", []):
        name = activation.split(" ")[0]
        items.append(_item(f"{pre}.activation.{name}", hm + ["home", "activation", name], activation,
                           match="present"))
    items.extend(_sops_items(pre, hm, user.get("sops", {})))
    for prog, settings in user.get("programSettings", {}).items():
        items.extend(_program_items(pre, hm, prog, settings))
    return items


def _sops_items(pre: str, hm: list[str], sops: dict) -> list[dict]:
    items = []
    if "age.keyFile" in sops:
        items.append(_item(f"{pre}.sops.age.keyFile", hm + ["sops", "age", "keyFile"], sops["age.keyFile"]))
    for name, secret in sops.get("secrets", {}).items():
        for key in ("mode", "path", "key"):
            if key in secret:
                items.append(_item(f"{pre}.sops.secrets.{name}.{key}", hm + ["sops", "secrets", name, key],
                                   secret[key]))
        items.append(_item(f"{pre}.sops.secrets.{name}.sopsFile", hm + ["sops", "secrets", name, "sopsFile"],
                           secret.get("sopsFile"), match="path-suffix"))
    for name, tpl in sops.get("templates", {}).items():
        for key in ("mode", "path"):
            items.append(_item(f"{pre}.sops.templates.{name}.{key}", hm + ["sops", "templates", name, key],
                               tpl[key]))
        items.append(_item(f"{pre}.sops.templates.{name}.content", hm + ["sops", "templates", name, "content"],
                           tpl["content"], match="json-text-placeholders"))
    return items


def _program_items(pre: str, hm: list[str], prog: str, settings: dict) -> list[dict]:
    if "(" in prog:
        # "<tool> (<file>)": a config file without a home-manager module.
        return _file_program_items(pre, hm, prog, settings)
    if prog.startswith("services.") or prog in TOP_LEVEL_SETTINGS:
        base = hm + prog.split(".")
    else:
        base = hm + ["programs", PROGRAM_RENAMES.get(prog, prog)]
    iid = f"{pre}.programSettings.{prog}"
    items = []
    for key, value in settings.items():
        if key == "note":
            continue  # the baseline's own commentary, not a setting
        if prog == "git" and key in GIT_RENAMES:
            target = GIT_RENAMES[key]
            for path, leaf in _leaves(value, []):
                items.append(_item(f"{iid}.{key}.{_dotted(path)}" if path else f"{iid}.{key}",
                                   base + target + path, leaf))
            continue
        if prog == "git" and key == "allowedSignersFileContent":
            items.append(_item(f"{iid}.{key}", hm + ["home", "file", ".config/git/allowed_signers", "text"], value))
            continue
        if key == "package" or (key == "pinentry" and isinstance(value, dict)):
            sub = ["package"] if key == "pinentry" else []
            expected = value["package"] if key == "pinentry" else value
            if expected is None:
                items.append(_item(f"{iid}.{key}", base + [key], None))
            else:
                items.append(_item(f"{iid}.{key}{'.package' if sub else ''}", base + [key], expected,
                                   match="package-value", sub=sub))
            continue
        if prog == "tmux" and key in ("plugins", "pluginOptions", "pluginExtraCommands", "extraConfigBindings",
                                      "extraConfigOtherCommands", "catppuccin.tmux"):
            items.extend(_tmux_items(iid, base, key, value))
            continue
        if key == "plugins" and isinstance(value, list):
            for pkg in value:
                items.append(_item(f"{iid}.plugins[{pkg}]", base + ["plugins"], pkg, match="package"))
            continue
        if prog == "zsh" and key == "envExtraPath":
            for where, paths in value.items():
                for entry in paths:
                    items.append(_item(f"{iid}.envExtraPath.{where}[{entry}]", base + ["envExtra"], entry,
                                       match="substring"))
            continue
        if prog == "zsh" and key == "initContent":
            for entry in value:
                literal = not entry.startswith("shell function")
                items.append(_item(f"{iid}.initContent[{entry}]", base + ["initContent"] if literal else [], entry,
                                   match="line-in-text" if literal else "descriptive"))
            continue
        if prog == "wezterm" and key == "extraConfigValues":
            for name, val in value.items():
                items.append(_item(f"{iid}.extraConfigValues.{name}", base + ["extraConfig"], _lua_setting(name, val),
                                   match="substring" if name != "keys" else "descriptive"))
            continue
        if key == "extraPackages":
            for pkg in value:
                items.append(_item(f"{iid}.extraPackages[{pkg}]", base + ["extraPackages"], pkg, match="package",
                                   kind="packages"))
            continue
        if prog == "agents-md" and key == "writesTo":
            for target in value:
                items.append(_item(f"{iid}.writesTo[{target}]", hm + ["home", "file"], target.removeprefix("~/"),
                                   match="file-target"))
            continue
        if prog == "agents-md" and key == "body":
            items.append(_item(f"{iid}.body", hm + ["home", "file", ".claude/CLAUDE.md", "text"], value))
            continue
        if prog in ("agents-md", "lazyvim") and key == "enable":
            continue  # covered by programsEnabled
        if isinstance(value, str) and ("${" in value or value.startswith("modules/")):
            match = "expression" if value in EXPRESSION_PATTERNS else "descriptive"
            items.append(_item(f"{iid}.{key}", base + [key], value, match=match))
            continue
        for path, leaf in _leaves(value, [key]):
            match = "equal"
            if isinstance(leaf, str) and leaf in EXPRESSION_PATTERNS:
                match = "expression"
            # Query each leaf: a whole option group may contain packages that do not evaluate.
            items.append(_item(f"{iid}.{_dotted(path)}", base + path, leaf, match=match))
    return items


def _lua_setting(name: str, value: Any) -> str:
    """The line a wezterm.lua sets `name` with (the legacy values were Lua)."""
    if name == "font":
        return f'config.font = wezterm.font("{value}")'
    if isinstance(value, bool):
        lua = "true" if value else "false"
    elif isinstance(value, str):
        lua = json.dumps(value)
    else:
        lua = str(value)
    return f"config.{name} = {lua}"


def _tmux_items(iid: str, base: list[str], key: str, value: Any) -> list[dict]:
    items = []
    if key == "plugins":
        for plugin in value:
            items.append(_item(f"{iid}.plugins[{plugin}]", base + ["plugins"], plugin, match="tmux-plugin"))
    elif key in ("pluginOptions", "catppuccin.tmux"):
        options = value if key == "pluginOptions" else {"tmuxPlugins.catppuccin": value.get("options", {})}
        for plugin, opts in options.items():
            for opt, val in opts.items():
                items.append(_item(f"{iid}.{key}.{plugin}.{opt}", base + ["plugins"], [opt, val],
                                   match="tmux-option"))
        if key == "catppuccin.tmux":
            items.append(_item(f"{iid}.catppuccin.tmux.enable", base + ["plugins"], "tmuxPlugins.catppuccin",
                               match="tmux-plugin"))
    elif key == "pluginExtraCommands":
        for plugin, text in value.items():
            items.append(_item(f"{iid}.pluginExtraCommands.{plugin}", [], text, match="descriptive"))
    else:
        for line in value:
            items.append(_item(f"{iid}.{key}[{line}]", base + ["extraConfig"], line, match="line-in-text"))
    return items


def _file_leaf(iid: str, query: list[str], expected: Any, match: str, leaf: list[str]) -> dict:
    item = _item(iid, query, expected, match=match)
    item["leaf"] = leaf  # path inside the parsed file, not inside the option value
    return item


def _file_program_items(pre: str, hm: list[str], prog: str, settings: dict) -> list[dict]:
    tool, _sep, where = prog.partition(" (")
    where = where.rstrip(")")
    iid = f"{pre}.programSettings.{tool}"
    items = []
    if tool in ("ccstatusline", "radicle") and where.startswith("~/"):
        target = where.removeprefix("~/")
        for key, value in settings.items():
            if key in ("package", "radicle.pub", "service"):
                continue
            for path, leaf in _leaves(value, [key]):
                items.append(_file_leaf(f"{iid}.{_dotted(path)}", hm + ["home", "file", target, "text"], leaf,
                                        "json-file-leaf", path))
        if "package" in settings:
            items.append(_item(f"{iid}.package", hm + ["home", "packages"], settings["package"], match="package",
                               kind="packages"))
        if "radicle.pub" in settings:
            items.append(_item(f"{iid}.radicle.pub", hm + ["home", "file", ".radicle/keys/radicle.pub", "text"],
                               settings["radicle.pub"]))
        if "service" in settings:
            items.append(_item(f"{iid}.service", [], settings["service"], match="descriptive"))
        return items
    if tool == "macchina":
        for fname, content in settings.items():
            target = f".config/macchina/{fname}"
            for path, leaf in _leaves(content, []):
                items.append(_file_leaf(f"{iid}.{fname}.{_dotted(path)}", hm + ["home", "file", target, "text"],
                                        leaf, "toml-file-leaf", path))
        return items
    for key, value in settings.items():
        items.append(_item(f"{iid}.{key}", [], value, match="descriptive"))
    return items


def baseline_items(baseline: dict, host: str, baseline_host: str | None = None) -> list[dict]:
    """Every item `host` must keep. `baseline_host` is the legacy host whose
    baseline applies (rosegold and argentum follow blackphos)."""
    legacy = baseline_host or host
    hosts = baseline.get("hosts", {})
    if legacy not in hosts:
        raise ValueError(
            f"host {host}: no baseline for legacy host '{legacy}' (baseline has {sorted(hosts)}); "
            "set regression_verify_baseline_host to the legacy host this machine follows"
        )
    items = _host_items(hosts[legacy])
    for key, user in baseline.get("homeUsers", {}).items():
        login, _sep, where = key.partition("@")
        if where in ("all", legacy):
            items.extend(_user_items(login, user))
    return items


def baseline_queries(items: list[dict]) -> list[dict]:
    """The distinct (kind, path) queries for extract.nix, each with a stable key."""
    seen: dict[str, dict] = {}
    for item in items:
        if not item["query"]:
            continue
        key = query_key(item)
        seen.setdefault(key, {"key": key, "kind": item["kind"], "path": item["query"]})
    return list(seen.values())


def query_key(item: dict) -> str:
    return item["kind"] + ":" + json.dumps(item["query"])


# --- comparison -------------------------------------------------------------


def _dig(value: Any, sub: list[str]) -> Any:
    for seg in sub:
        if isinstance(value, dict) and seg in value:
            value = value[seg]
        else:
            return MISSING
    return value


def _pkg_matches(expected: str, found: str) -> bool:
    if found == expected or found.startswith(expected + "."):
        return True
    return found in PACKAGE_ALIASES.get(expected, set())


def _pkg_name(value: Any) -> Any:
    return value.get("__pkg__") if isinstance(value, dict) and "__pkg__" in value else value


def _names(value: Any) -> list[str]:
    """Homebrew taps/brews/casks evaluate to submodules; keep their names."""
    if not isinstance(value, list):
        return []
    return [v.get("name") if isinstance(v, dict) else v for v in value]


def _equal(expected: Any, found: Any) -> bool:
    if isinstance(expected, bool) or isinstance(found, bool):
        return expected is found or expected == found and type(expected) is type(found)
    if isinstance(expected, (int, float)) and isinstance(found, (int, float)):
        return float(expected) == float(found)
    if isinstance(expected, list) and isinstance(found, list):
        return len(expected) == len(found) and all(_equal(e, f) for e, f in zip(expected, found))
    if isinstance(expected, dict) and isinstance(found, dict):
        return expected.keys() == found.keys() and all(_equal(v, found[k]) for k, v in expected.items())
    return expected == found


def _tmux_plugins(found: Any) -> list[tuple[str, str]]:
    """(plugin name, its extraConfig) for programs.tmux.plugins entries."""
    out = []
    for entry in found if isinstance(found, list) else []:
        if isinstance(entry, dict) and "plugin" in entry:
            out.append((str(_pkg_name(entry["plugin"])), entry.get("extraConfig") or ""))
        else:
            out.append((str(_pkg_name(entry)), ""))
    return out


def _parse_text(text: Any, parser: str) -> Any:
    if not isinstance(text, str):
        return MISSING
    try:
        return json.loads(text) if parser == "json" else tomllib.loads(text)
    except (ValueError, tomllib.TOMLDecodeError):
        return MISSING


def _check(item: dict, found: Any) -> tuple[bool, Any]:
    """(ok, what was found, for the message)."""
    match, expected = item["match"], item["expected"]
    if match == "absent":
        return found == MISSING or found is None or found is False, found
    if match == "named-absent":
        return expected not in _names(found), _names(found)
    if found == MISSING:
        return False, "nothing (the option path does not exist or is unset)"
    if match == "equal":
        return _equal(expected, found), found
    if match == "named-member":
        return expected in _names(found), _names(found)
    if match == "member":
        return isinstance(found, list) and expected in found, found
    if match == "superset":
        missing = [e for e in expected if e not in (found or [])]
        return not missing and isinstance(found, list), found
    if match == "words":
        words = found.split() if isinstance(found, str) else found if isinstance(found, list) else []
        return set(expected.split()) <= set(words), found
    if match == "substring":
        return isinstance(found, str) and expected in found, "text without it"
    if match == "package":
        names = [_pkg_name(f) for f in found] if isinstance(found, list) else []
        names = [n for n in names if isinstance(n, str)]
        return any(_pkg_matches(expected, n) for n in names), f"{len(names)} packages, none named {expected}"
    if match == "package-value":
        name = _pkg_name(found)
        wanted = re.sub(r"\.(override|overrideAttrs)$", "", expected.split(" ")[0])
        return isinstance(name, str) and _pkg_matches(wanted, name), name
    if match == "expression":
        pattern = EXPRESSION_PATTERNS.get(expected)
        return bool(pattern) and isinstance(found, str) and re.match(pattern, found) is not None, found
    if match == "expression-member":
        pattern = EXPRESSION_PATTERNS.get(expected, "^$")
        return isinstance(found, list) and any(isinstance(f, str) and re.match(pattern, f) for f in found), found
    if match == "flake-registry":
        # builtins.toFile "empty-flake-registry.json" ... evaluates to its store path.
        return isinstance(found, str) and found.endswith("-empty-flake-registry.json"), found
    if match == "persistent-apps":
        paths = [_dig(e, ["tile-data", "file-data", "_CFURLString"]) if isinstance(e, dict) else e
                 for e in (found or [])]
        return paths == expected, paths
    if match == "file-target":
        targets = {v.get("target", k) if isinstance(v, dict) else k for k, v in (found or {}).items()}
        return expected in targets, sorted(targets)
    if match == "line-in-text":
        return isinstance(found, str) and expected in found.splitlines(), "no such line in the text"
    if match == "tmux-plugin":
        names = [name for name, _config in _tmux_plugins(found)]
        return expected in names, names
    if match == "tmux-option":
        opt, val = expected
        wanted = f"set -g {opt} {json.dumps(val, ensure_ascii=False)}"
        ok = any(wanted in cfg.splitlines() for _name, cfg in _tmux_plugins(found))
        return ok, f"no line `{wanted}` in any plugin's extraConfig"
    if match == "non-empty-text":
        return isinstance(found, str) and found.strip() != "", found
    if match == "present":
        return found not in (None, MISSING), found
    if match == "path-suffix":
        return isinstance(found, str) and found.endswith("/" + expected), found
    if match in ("json-file-leaf", "toml-file-leaf"):
        parsed = _parse_text(found, "json" if match.startswith("json") else "toml")
        leaf = _dig(parsed, item.get("leaf", []))
        return leaf != MISSING and _equal(expected, leaf), leaf
    if match == "json-text-placeholders":
        parsed = _parse_text(found, "json")
        return _equal(_normalise_placeholders(expected), _normalise_placeholders(parsed)), parsed
    return False, f"unknown match kind {match}"


_SOPS_PLACEHOLDER = re.compile(r"<SOPS:[0-9a-f]+:PLACEHOLDER>|<sops placeholder [^>]+>")


def _normalise_placeholders(value: Any) -> Any:
    """sops-nix placeholders are hashes of the secret name; the baseline spells
    them `<sops placeholder NAME>`. Compare shape, not the hash."""
    if isinstance(value, str):
        return _SOPS_PLACEHOLDER.sub("<sops placeholder>", value)
    if isinstance(value, list):
        return [_normalise_placeholders(v) for v in value]
    if isinstance(value, dict):
        return {k: _normalise_placeholders(v) for k, v in value.items()}
    return value


def _decision_for(item_id: str, host: str, decisions: list[dict]) -> dict | None:
    for decision in decisions:
        hosts = decision.get("hosts")
        if hosts and host not in hosts:
            continue
        if any(_glob(pat).fullmatch(item_id) for pat in _patterns(decision)):
            return decision
    return None


def _glob(pattern: str) -> re.Pattern:
    """`*` and `?` are wildcards; everything else is literal (item ids contain `[`)."""
    return re.compile(re.escape(pattern).replace(r"\*", ".*").replace(r"\?", "."))


def _patterns(decision: dict) -> list[str]:
    items = decision.get("items", [])
    return [items] if isinstance(items, str) else list(items)


def _short(value: Any, limit: int = 300) -> str:
    text = json.dumps(value, ensure_ascii=False, sort_keys=True) if not isinstance(value, str) else value
    return text if len(text) <= limit else text[:limit] + "..."


def baseline_compare(items: list[dict], results: dict, decisions: dict | list | None, host: str) -> dict:
    """Compare extract.nix `results` with `items`.

    Returns {ok, checked, passed, accepted, failures, messages, unused_decisions}.
    A failure is an item that differs and has no decision; an item whose query
    could not be evaluated is a failure too (fail closed).
    """
    decision_list = decisions.get("decisions", []) if isinstance(decisions, dict) else list(decisions or [])
    failures, accepted, passed = [], [], 0
    used: set[int] = set()
    for item in items:
        if item["match"] == "descriptive":
            ok, found = False, "(descriptive baseline entry: no option to read)"
        else:
            res = results.get(query_key(item))
            if res is None:
                ok, found = False, "(not evaluated: the query is missing from the nix results)"
            elif not res.get("ok"):
                ok, found = False, f"(evaluation error: {res.get('error')})"
            else:
                ok, found = _check(item, _dig(res.get("value"), item["sub"]))
        if ok:
            passed += 1
            continue
        decision = _decision_for(item["id"], host, decision_list)
        if decision is not None:
            used.add(id(decision))
            accepted.append({"item": item["id"], "decision": decision.get("decision"),
                             "id": decision.get("id"), "reason": decision.get("reason")})
            continue
        failures.append({
            "host": host,
            "item": item["id"],
            "expected": item["expected"],
            "found": found,
            "message": (
                f"host {host}: baseline item {item['id']} regressed: expected {_short(item['expected'])}, "
                f"found {_short(found)}; restore it in the host's aspects (option "
                f"{'.'.join(item['query'] + item['sub']) or 'n/a'}) or record a decision for it in "
                "docs/baseline-decisions.yml"
            ),
        })
    unused = [d.get("id") for d in decision_list if id(d) not in used and (not d.get("hosts") or host in d["hosts"])]
    return {
        "ok": not failures,
        "host": host,
        "checked": len(items),
        "passed": passed,
        "accepted": accepted,
        "failures": failures,
        "messages": [f["message"] for f in failures],
        "unused_decisions": unused,
    }


DECISION_KINDS = {"replaced", "dropped", "deferred", "changed", "manual"}


def baseline_decisions_check(decisions: dict) -> list[str]:
    """Problems of the decisions file itself (empty list when it is valid)."""
    problems = []
    entries = decisions.get("decisions") if isinstance(decisions, dict) else None
    if not isinstance(entries, list):
        return ["docs/baseline-decisions.yml: expected a top-level `decisions:` list"]
    seen = set()
    for n, entry in enumerate(entries):
        where = f"decision #{n} ({entry.get('id', 'no id')})"
        for key in ("id", "items", "decision", "reason"):
            if not entry.get(key):
                problems.append(f"{where}: missing `{key}`")
        if entry.get("decision") and entry["decision"] not in DECISION_KINDS:
            problems.append(f"{where}: decision must be one of {sorted(DECISION_KINDS)}, got {entry['decision']}")
        if entry.get("decision") in ("replaced", "changed") and not entry.get("replacement"):
            problems.append(f"{where}: a `{entry['decision']}` decision must name its `replacement`")
        if entry.get("decision") == "deferred" and not entry.get("action"):
            problems.append(f"{where}: a deferred decision must say what has to happen (`action`)")
        if entry.get("id") in seen:
            problems.append(f"{where}: duplicate id")
        seen.add(entry.get("id"))
    return problems


class FilterModule:
    """Ansible filters for the zero-regression review."""

    def filters(self) -> dict:
        return {
            "baseline_items": baseline_items,
            "baseline_queries": baseline_queries,
            "baseline_compare": baseline_compare,
            "baseline_decisions_check": baseline_decisions_check,
        }
