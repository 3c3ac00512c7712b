"""Contract fake of nix-darwin's `darwin-rebuild`.

Upstream: nix-darwin pkgs/nix-tools/darwin-rebuild.sh (argument loop, showSyntax
exit 1, "unknown option" on stdout exit 1, "system activation must now be run as
root" for switch/activate/rollback/check, `--flake path#attr` ->
darwinConfigurations.<attr>.system, "building the system configuration..." on
stderr, `build` leaves ./result, --list-generations/--rollback/--switch-generation
delegated to `nix-env -p PROFILE`). The nix-env profile behaviour is in
profiles.py (checked against nix 2.34).

Order of a switch, as upstream (darwin-rebuild.sh, near its end):
    if [ "$action" = switch ]; then nix-env -p "$profile" --set "$systemConfig"; fi
    ... "$systemConfig/activate-user" (legacy) ... "$systemConfig/activate"
and a rollback runs `nix-env -p "$profile" --rollback` then the profile's
`activate`. The activate script (modules/system/activation-scripts.nix) runs
with `set -e` and writes `ln -sfn ... /run/current-system` as its LAST step.
So a failed activation leaves the profile at the NEW generation while
/run/current-system still is the old system: this fake does exactly that.

State ($FAKE_DARWIN_STATE):
  config.json  {"hosts": {ATTR: {"system": STORE_PATH, "build_error": TEXT|null,
                "activation_error": TEXT|null (activating that system fails), "hang": BOOL (the build never ends)}}}
  profiles/system[-N-link]   the system profile
  run/current-system         the active system (written by a successful activation)
  calls.jsonl  every invocation's argv
FAKE_DARWIN_UID stands in for `id -u` (default: the real uid).
"""
from __future__ import annotations

import os
import re
import sys
import time
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import profiles  # noqa: E402
from _state import load_json, log_call, state_dir  # noqa: E402

PROG = "darwin-rebuild"
NO_ARG = {"--show-trace", "--keep-going", "--keep-failed", "--verbose", "-v", "-vv", "-vvv", "-vvvv", "-vvvvv",
          "--fallback", "--offline", "--no-build-hook", "--dry-run", "-k", "-K", "-Q", "-L", "-vL",
          "--print-build-logs", "--impure", "--recreate-lock-file", "--no-update-lock-file", "--no-write-lock-file",
          "--no-registries", "--commit-lock-file", "--refresh", "--no-flake"}
ONE_ARG = {"--max-jobs", "-j", "--cores", "-I", "--update-input", "--substituters", "--log-format"}
TWO_ARGS = {"--arg", "--argstr", "--option", "--override-input"}


def syntax() -> int:
    sys.stderr.write("darwin-rebuild [--help] {edit | switch | activate | build | check | changelog}\n"
                     "               [--list-generations] [{--profile-name | -p} name] [--rollback]\n"
                     "               [{--switch-generation | -G} generation] ...\n")
    return 1


def main() -> int:
    state = state_dir("FAKE_DARWIN_STATE")
    log_call(state, [PROG] + sys.argv[1:])
    args = sys.argv[1:]
    action = flake = switch_to = None
    i = 0
    while i < len(args):
        arg = args[i]
        i += 1
        if arg == "--help":
            return syntax()
        if arg in ("edit", "switch", "activate", "build", "check", "changelog"):
            action = arg
        elif arg in NO_ARG or re.match(r"^-j\d+$", arg):
            pass
        elif arg in ONE_ARG or arg == "--flake":
            if i >= len(args):
                print("%s: '%s' requires an argument" % (PROG, arg))
                return 1
            if arg == "--flake":
                flake = args[i]
            i += 1
        elif arg in TWO_ARGS:
            if i + 1 >= len(args):
                print("%s: '%s' requires two arguments" % (PROG, arg))
                return 1
            i += 2
        elif arg == "--list-generations":
            action = "list"
        elif arg == "--rollback":
            action = "rollback"
        elif arg in ("--switch-generation", "-G"):
            action = "rollback"
            if i >= len(args):
                print("%s: '%s' requires an argument" % (PROG, arg))
                return 1
            switch_to = args[i]
            i += 1
        else:
            print("%s: unknown option '%s'" % (PROG, arg))
            return 1
    if action is None:
        return syntax()
    uid = int(os.environ.get("FAKE_DARWIN_UID", os.getuid()))
    if action in ("switch", "activate", "rollback", "check") and uid != 0:
        sys.stderr.write("%s: system activation must now be run as root\n" % PROG)
        return 1
    profile = state / "profiles" / "system"
    system = None
    if action in ("switch", "build", "check"):
        config = load_json(state / "config.json", {"hosts": {}})
        if not flake or "#" not in flake:
            sys.stderr.write("error: the fake needs --flake PATH#HOST (upstream would ask scutil for the name)\n")
            return 1
        path, attr = flake.rsplit("#", 1)
        sys.stderr.write("building the system configuration...\n")
        host = config["hosts"].get(attr)
        if host is None:
            sys.stderr.write("error: flake 'path:%s' does not provide attribute "
                             "'packages.aarch64-darwin.darwinConfigurations.%s.system', "
                             "'legacyPackages.aarch64-darwin.darwinConfigurations.%s.system' or "
                             "'darwinConfigurations.%s.system'\n" % (os.path.abspath(path), attr, attr, attr))
            return 1
        if host.get("hang"):
            time.sleep(3600)  # a build that never finishes: the caller's timeout must stop it
        if host.get("build_error"):
            sys.stderr.write(host["build_error"] + "\n")
            return 1
        system = host["system"]
        if action == "build":
            link = Path("result")
            if link.is_symlink():
                link.unlink()
            link.symlink_to(system)
    if action == "list":
        sys.stdout.write(profiles.list_generations(profile))
    if action == "rollback":
        profiles.switch(profile, None if switch_to is None else int(switch_to))
        system = profiles.store_path(profile)
    if action == "switch":
        profiles.set_path(profile, system)  # nix-env -p "$profile" --set "$systemConfig", BEFORE activating
    if action in ("switch", "rollback"):
        return activate(state, system)
    return 0


def activate(state: Path, system: str) -> int:
    """"$systemConfig/activate": set -e; its last step points /run/current-system at the system."""
    config = load_json(state / "config.json", {"hosts": {}})
    errors = {h["system"]: h.get("activation_error") for h in config["hosts"].values() if h.get("system")}
    print("setting up groups...\nsetting up users...")
    if errors.get(system):
        sys.stderr.write(errors[system] + "\n")
        return 1
    print("setting up /etc...\nactivating system...")
    current = state / "run" / "current-system"
    current.parent.mkdir(parents=True, exist_ok=True)
    if current.is_symlink():
        current.unlink()
    current.symlink_to(system)
    return 0


if __name__ == "__main__":
    sys.exit(main())
