"""Contract fake of the clan CLI (`clan machines install|update|build`, `clan vars generate|check|list|get`).

Upstream (clan-core, pkgs/clan-cli):
  clan_cli/cli.py                 global --flake, --debug, --option NAME VALUE; ClanError -> log.error, exit 1
  clan_lib/machines/update.py     `_nixos_activate`: profile set, then switch-to-configuration (see Fake.switch)
  clan_cli/machines/update.py     `update [MACHINE...] --target-host --build-host --host-key-check --upload-inputs ...`
  clan_cli/machines/install.py    `install MACHINE --target-host --yes --update-hardware-config --phases -i ...`
  clan_cli/machines/build.py      `build [MACHINE...] --no-link --dry-run`: prints "Building N machine(s)..." and the path
  clan_cli/vars/generate.py       `generate [MACHINE...] -g/--generator --regenerate/--no-regenerate --no-sandbox`
  clan_cli/vars/check.py          `check [MACHINE...] -g/--generator`: exit 1 when vars are missing
  clan_cli/vars/list.py           `list MACHINE`: "gen/var: value" lines, secrets as ********
  clan_cli/vars/get.py            `get MACHINE VAR_ID`: the value of GENERATOR/FILE on stdout
  clan_lib/vars/check.py          "Missing secret vars:" / "Missing public vars:" report
  clan_lib/vars/_types.py         "Updated var g/v for machines: m" / "Updated secret var g/v for machines: m"
  clan_lib/ssh/host_key.py        HostKeyCheck: the --host-key-check choices
  clan_lib/vars/public_modules/in_repo.py, secret_modules/sops.py: vars/per-machine/<m>/<g>/<v>/{value,secret}
Argument parsing uses argparse like upstream, so unknown flags exit 2 with argparse's message.
tests/integration/test_clan_cli_real.py checks these parsers against the real CLI's argparse tree.

State ($FAKE_CLAN_STATE):
  flake.json   {"machines": {NAME: {"targetHost": ADDR, "toplevel": STORE_PATH, "build_error": TEXT|null,
                 "activation_error": TEXT|null (switch-to-configuration fails after the profile was set),
                 "hang": BOOL (the build never finishes), "reboot_polls": N,
                 "generators": {GEN: {"files": {FILE: {"secret": BOOL}}, "dependencies": [GEN...],
                                      "fail": TEXT|null, "writes_nothing": BOOL}}}}}
  hosts/<host>/nix/var/nix/profiles/system[-N-link]   the target's system profile (see profiles.py)
  hosts/<host>/run/current-system, etc/NIXOS, etc/os-release   what the target runs (see boot_into)
  unreachable  host names whose ssh connection is refused
  hosts/<host>/rebooting  number of ssh connections still refused after an install (reboot_polls)
  calls.jsonl  every invocation's argv
FAKE_CLAN_REMOTE=1: `machines update` switches the target itself over ssh (the rehearsal's stand-ins,
  see Fake.switch_remote) instead of the tree under hosts/.
"""
from __future__ import annotations

import argparse
import os
import re
import secrets
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import profiles  # noqa: E402
from _state import host_name, host_root, load_json, log_call, state_dir, unreachable  # noqa: E402

SYSTEM_PROFILE = "nix/var/nix/profiles/system"
# What disko's formatting replaces on an install: the host's whole OS tree.
INSTALL_WIPES = ["etc", "run", "nix"]
# clan_lib/ssh/host_key.py HostKeyCheck (the choices of --host-key-check).
HOST_KEY_CHECK = ["strict", "ask", "tofu", "none", "accept-new"]


class ClanError(Exception):
    pass


def boot_into(root: Path, path: str) -> None:
    """What an activated NixOS system leaves on the host: /run/current-system -> PATH (written by the
    activation script, nixos/modules/system/activation/activation-script.nix), /etc/NIXOS and
    os-release ID=nixos (nixos/modules/misc/version.nix)."""
    current = root / "run" / "current-system"
    current.parent.mkdir(parents=True, exist_ok=True)
    if current.is_symlink():
        current.unlink()
    current.symlink_to(path)
    etc = root / "etc"
    etc.mkdir(parents=True, exist_ok=True)
    (etc / "NIXOS").write_text("")
    (etc / "os-release").write_text('NAME=NixOS\nID=nixos\nVERSION_ID="25.11"\n')


def common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--debug", action="store_true", default=False)
    parser.add_argument("--option", nargs=2, metavar=("name", "value"), action="append", default=[])
    parser.add_argument("--flake", default=os.environ.get("CLAN_DIR", "."), metavar="PATH")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="clan")
    common(parser)
    sub = parser.add_subparsers(dest="group", required=True)
    machines = sub.add_parser("machines").add_subparsers(dest="command", required=True)
    update = machines.add_parser("update")
    common(update)
    update.add_argument("machines", nargs="*", default=[], metavar="MACHINE")
    update.add_argument("--tags", nargs="+", default=[])
    update.add_argument("--host-key-check", choices=HOST_KEY_CHECK, default="ask")
    update.add_argument("--target-host")
    update.add_argument("--build-host")
    update.add_argument("--upload-inputs", action="store_true")
    update.add_argument("--specialisation")
    update.add_argument("--no-check", action="store_true")
    install = machines.add_parser("install")
    common(install)
    install.add_argument("--kexec")
    install.add_argument("--no-reboot", action="store_true")
    install.add_argument("--host-key-check", choices=HOST_KEY_CHECK, default="ask")
    install.add_argument("--build-on", choices=["auto", "local", "remote"])
    install.add_argument("--yes", action="store_true")
    install.add_argument("--update-hardware-config", default="none",
                         choices=["none", "nixos-generate-config", "nixos-facter"])
    install.add_argument("--no-persist-state", action="store_true")
    install.add_argument("--phases")
    install.add_argument("machine")
    group = install.add_mutually_exclusive_group()
    group.add_argument("-j", "--json")
    group.add_argument("--target-host")
    group.add_argument("-P", "--png")
    auth = install.add_mutually_exclusive_group()
    auth.add_argument("--password")
    auth.add_argument("-i", dest="identity_file")
    build = machines.add_parser("build")
    common(build)
    build.add_argument("machines", nargs="*", default=[], metavar="MACHINE")
    build.add_argument("--tags", nargs="+", default=[])
    build.add_argument("--format", default="toplevel")
    build.add_argument("--dry-run", action="store_true")
    build.add_argument("--no-link", action="store_true")
    build.add_argument("--no-secrets", action="store_true")
    build.add_argument("--no-sandbox", action="store_true")
    build.add_argument("--system")
    vars_ = sub.add_parser("vars").add_subparsers(dest="command", required=True)
    generate = vars_.add_parser("generate")
    common(generate)
    generate.add_argument("machines", nargs="*", default=[])
    generate.add_argument("--generator", "-g", default=None)
    generate.add_argument("--regenerate", "-r", action=argparse.BooleanOptionalAction, default=None)
    generate.add_argument("--no-sandbox", action="store_true", default=False)
    generate.add_argument("--fake-prompts", action="store_true", default=False)
    check = vars_.add_parser("check")
    common(check)
    check.add_argument("machines", nargs="*", default=[])
    check.add_argument("--generator", "-g")
    list_ = vars_.add_parser("list")
    common(list_)
    list_.add_argument("machine")
    get = vars_.add_parser("get")
    common(get)
    get.add_argument("machine")
    get.add_argument("var_id")
    return parser


def log(prefix: str | None, message: str) -> None:
    # clan_lib/custom_logger: without a tty (or with NO_COLOR) the format is "[prefix] %(message)s",
    # so only the first line of a multi-line message carries the prefix; log.info without one has none.
    sys.stderr.write(("[%s] %s\n" % (prefix, message)) if prefix else message + "\n")


class Fake:
    def __init__(self, state: Path, flake: str) -> None:
        self.state = state
        # A local flake reference names its directory (clan_lib/flake/flake.py Flake.prefetch: original.url/path).
        for scheme in ("git+file://", "git+file:", "path:", "file://", "file:"):
            flake = flake.removeprefix(scheme) if flake.startswith(scheme) else flake
        self.flake = Path(flake.split("?", 1)[0]).resolve()
        self.config = load_json(state / "flake.json", {"machines": {}})

    def machine(self, name: str) -> dict:
        machines = self.config["machines"]
        if name not in machines:
            raise ClanError("Machine '%s' not found in inventory. Available machines: %s"
                            % (name, ", ".join(sorted(machines))))
        return machines[name]

    # --- vars -------------------------------------------------------------
    def var_dir(self, machine: str, gen: str, name: str) -> Path:
        return self.flake / "vars" / "per-machine" / machine / gen / name

    def var_file(self, machine: str, gen: str, name: str, secret: bool) -> Path:
        return self.var_dir(machine, gen, name) / ("secret" if secret else "value")

    def generators(self, machine: str) -> dict:
        return self.machine(machine).get("generators", {})

    def missing(self, machine: str, only: str | None = None) -> tuple[list[str], list[str]]:
        secret, public = [], []
        for gen, spec in self.generators(machine).items():
            if only and gen != only:
                continue
            for name, fspec in spec.get("files", {}).items():
                if not self.var_file(machine, gen, name, fspec.get("secret", True)).exists():
                    (secret if fspec.get("secret", True) else public).append("%s/%s" % (gen, name))
        return secret, public

    def closure(self, machine: str, gen: str) -> list[str]:
        """`gen` and every generator depending on it (clan's full_closure on --regenerate)."""
        result = [gen]
        changed = True
        while changed:
            changed = False
            for other, spec in self.generators(machine).items():
                if other not in result and set(spec.get("dependencies", [])) & set(result):
                    result.append(other)
                    changed = True
        return result

    def run_generators(self, machine: str, only: str | None, regenerate: bool) -> None:
        gens = self.generators(machine)
        if only is not None and only not in gens:
            raise ClanError("Could not find generator with name: %s. The following generators are available: %s"
                            % (only, ", ".join(sorted(gens))))
        if only and regenerate:
            selected = self.closure(machine, only)
        elif only:
            selected = [only]
        else:
            selected = list(gens)
        for gen in selected:
            files = gens[gen].get("files", {})
            complete = all(self.var_file(machine, gen, n, f.get("secret", True)).exists() for n, f in files.items())
            if complete and not regenerate:
                continue
            if gens[gen].get("fail"):
                # clan_lib/vars/generator.py runs the script with `run()`, which raises ClanCmdError.
                raise ClanError("Command failed: bash -c %s\n%s" % (gen, gens[gen]["fail"]))
            if gens[gen].get("writes_nothing"):
                # A generator script that exits 0 without writing its files (clan would raise; older
                # versions did not): lets the module's own "still missing" check be exercised.
                continue
            for name, fspec in files.items():
                secret = fspec.get("secret", True)
                path = self.var_file(machine, gen, name, secret)
                old = path.read_text() if path.exists() and not secret else "<not set>"
                path.parent.mkdir(parents=True, exist_ok=True)
                if secret:
                    path.write_text('{"data": "ENC[AES256_GCM,data:%s]"}\n' % secrets.token_hex(8))
                    log(machine, "Updated secret var %s/%s for machines: %s\n" % (gen, name, machine))
                else:
                    value = "%s-%s" % (name, secrets.token_hex(4))
                    path.write_text(value)
                    log(machine, "Updated var %s/%s for machines: %s\n  old: %s\n  new: %s"
                        % (gen, name, machine, old, value))

    def vars_generate(self, args) -> int:
        for machine in args.machines or sorted(self.config["machines"]):
            self.run_generators(machine, args.generator, bool(args.regenerate))
        return 0

    def vars_check(self, args) -> int:
        ok = True
        for machine in args.machines or sorted(self.config["machines"]):
            if args.generator and args.generator not in self.generators(machine):
                raise ClanError("Generator '%s' not found in machine %s" % (args.generator, machine))
            secret, public = self.missing(machine, args.generator)
            text = ""
            if secret:
                text += "Missing secret vars:\n" + "".join("  - %s\n" % v for v in secret)
            if public:
                text += "Missing public vars:\n" + "".join("  - %s\n" % v for v in public)
            log(None, "Check results for machine '%s': \n%s" % (machine, text or "All vars are present and valid."))
            ok = ok and not (secret or public)
        return 0 if ok else 1

    def vars_list(self, args) -> int:
        lines = []
        for gen, spec in self.generators(args.machine).items():
            for name, fspec in spec.get("files", {}).items():
                secret = fspec.get("secret", True)
                path = self.var_file(args.machine, gen, name, secret)
                if not path.exists():
                    value = "<not set>"
                elif secret:
                    value = "********"
                else:
                    value = path.read_text()
                lines.append("%s/%s: %s" % (gen, name, value))
        print("\n".join(sorted(lines)))
        return 0

    def vars_get(self, args) -> int:
        # clan_cli/vars/get.py: the var whose id (GENERATOR/FILE) is var_id, its value on stdout.
        for gen, spec in self.generators(args.machine).items():
            for name, fspec in spec.get("files", {}).items():
                if "%s/%s" % (gen, name) != args.var_id:
                    continue
                path = self.var_file(args.machine, gen, name, fspec.get("secret", True))
                if not path.exists():
                    raise ClanError("Var %s has not been generated yet" % args.var_id)
                print(path.read_text())
                return 0
        raise ClanError("No var found for search string: %s" % args.var_id)

    # --- machines ---------------------------------------------------------
    def toplevel(self, name: str) -> str:
        spec = self.machine(name)
        if spec.get("hang"):
            # A build or copy that never finishes (lost connection, stuck substituter):
            # the caller's timeout must stop it.
            log(name, "copying path '%s' to 'ssh://%s'..." % (spec["toplevel"], spec.get("targetHost")))
            time.sleep(3600)
        if spec.get("build_error"):
            raise ClanError("Build failed for %s: %s" % (name, spec["build_error"]))
        return spec["toplevel"]

    def target(self, name: str, given: str | None) -> str:
        target = given or self.machine(name).get("targetHost")
        if not target:
            raise ClanError("No target_host configured for machine '%s'" % name)
        # clan_lib/ssh/remote.py _parse_ssh_uri: a bare IPv6 host (more than one ':' and no brackets) is refused.
        host_port = target.removeprefix("ssh://").split("?", 1)[0].split("@")[-1]
        if host_port.count(":") > 1 and not re.match(r".*\[.*]", host_port):
            raise ClanError("Invalid hostname: %s. IPv6 addresses must be enclosed in brackets , e.g. [::1]"
                            % target.removeprefix("ssh://"))
        if unreachable(self.state, target):
            raise ClanError("Command failed: ssh %s\nssh: connect to host %s port 22: Connection refused"
                            % (target, host_name(target)))
        return target

    def switch(self, name: str, target: str) -> None:
        """clan_lib/machines/update.py `_nixos_activate`, in upstream's order: `nix-env -p
        /nix/var/nix/profiles/system --set PATH` FIRST, then `switch-to-configuration boot`, then
        `switch-to-configuration switch` (retried once, then `readlink /run/current-system`
        compared with PATH). So a failed activation leaves the profile at the NEW generation while
        /run/current-system (written by the activation) still is the old system.
        """
        path = self.toplevel(name)
        if os.environ.get("FAKE_CLAN_REMOTE") == "1":
            self.switch_remote(name, target, path)
            return
        root = host_root(self.state, target)
        profiles.set_path(root / SYSTEM_PROFILE, path)
        error = self.machine(name).get("activation_error")
        if error:
            log(name, error)
            # upstream: log.info("[%s] activation returned %d — retrying", ...), then the retry fails too
            log(None, "[%s] activation returned 1 \u2014 retrying" % name)
            log(name, error)
            raise ClanError("switch-to-configuration failed on '%s' (exit code 1). See above for details." % name)
        log(name, "activating the configuration...")
        log(name, "setting up /etc...")
        boot_into(root, path)
        log(name, "Done")

    def switch_remote(self, name: str, target: str, path: str) -> None:
        """FAKE_CLAN_REMOTE=1 (the rehearsal's stand-ins): the same steps run on the target over ssh, as
        upstream's `_nixos_activate` runs them (target_host.run): `nix-env -p /nix/var/nix/profiles/system
        --set PATH`, `PATH/bin/switch-to-configuration boot`, then `... switch` retried once, then
        `readlink /run/current-system` must be PATH. Nothing is built or copied: PATH is already there."""
        import subprocess

        # clan_lib/ssh/remote.py parses user@host[:port] (IPv6 in brackets) into ssh's -p PORT user@host.
        user, _at, hostport = target.rpartition("@")
        host, port = hostport, None
        if hostport.startswith("["):
            host, _sep, rest = hostport[1:].partition("]")
            port = rest[1:] or None
        elif hostport.count(":") == 1:
            host, port = hostport.split(":")
        address = "%s@%s" % (user, host) if user else host

        def remote(command: str) -> subprocess.CompletedProcess:
            argv = ["ssh"] + (["-p", port] if port else []) + [address, command]
            return subprocess.run(argv, capture_output=True, text=True, check=False, timeout=300)

        res = remote("nix-env -p /%s --set %s && %s/bin/switch-to-configuration boot" % (SYSTEM_PROFILE, path, path))
        if res.returncode:
            raise ClanError("Command failed: ssh %s nix-env -p /%s --set %s (exit %d)\n%s"
                            % (target, SYSTEM_PROFILE, path, res.returncode, res.stderr.strip()))
        for attempt in (1, 2):
            res = remote("%s/bin/switch-to-configuration switch" % path)
            if res.returncode == 0:
                break
            log(name, res.stderr.strip())
            if attempt == 1:
                log(None, "[%s] activation returned %d \u2014 retrying" % (name, res.returncode))
        else:
            raise ClanError("switch-to-configuration failed on '%s' (exit code %d). See above for details."
                            % (name, res.returncode))
        log(name, "activating the configuration...")
        running = remote("readlink /run/current-system").stdout.strip()
        if running != path:
            raise ClanError("'%s': /run/current-system is %s after the switch, expected %s" % (name, running, path))
        log(name, "Done")

    def machines_update(self, args) -> int:
        names = args.machines or sorted(self.config["machines"])
        if args.target_host and len(names) > 1:
            raise ClanError("Target Host can only be set for one machines")
        for name in names:
            target = self.target(name, args.target_host)
            self.run_generators(name, None, False)
            self.toplevel(name)
            self.switch(name, target)
        return 0

    def machines_install(self, args) -> int:
        target = self.target(args.machine, args.target_host)
        if not args.yes:
            sys.stderr.write("Install %s to %s? [y/N] " % (args.machine, target))
            if sys.stdin.readline().strip().lower() != "y":
                return 0
        self.run_generators(args.machine, None, False)
        self.toplevel(args.machine)
        # clan_cli/machines/install.py runs nixos-anywhere: it kexecs the running Linux into its installer and
        # formats the disks with disko (nix-community/nixos-anywhere README.md, "Overview"), so nothing of the
        # old system survives -- neither its os-release nor any earlier profile: the new system starts at
        # generation 1. The fake's own controls (ssh_fault, uname, rebooting) are not part of the disk.
        root = host_root(self.state, target)
        for part in INSTALL_WIPES:
            path = root / part
            if path.is_symlink() or path.is_file():
                path.unlink()
            elif path.is_dir():
                shutil.rmtree(path)
        log(args.machine, "Installing to %s" % target)
        self.switch(args.machine, target)
        # The installed system reboots: ssh is refused for `reboot_polls` connections.
        polls = self.machine(args.machine).get("reboot_polls", 0)
        if polls:
            (root / "rebooting").write_text(str(polls))
        return 0

    def machines_build(self, args) -> int:
        names = args.machines or sorted(self.config["machines"])
        print("Building %d machine(s)..." % len(names))
        paths = []
        for name in names:
            self.machine(name)
            if not args.dry_run:
                self.run_generators(name, None, False)
            paths.append(self.toplevel(name))
        for path in paths:
            print(path)
        return 0


def main() -> int:
    state = state_dir("FAKE_CLAN_STATE")
    log_call(state, ["clan"] + sys.argv[1:])
    args = build_parser().parse_args()
    fake = Fake(state, args.flake)
    handler = getattr(fake, "%s_%s" % (args.group, args.command))
    try:
        return handler(args)
    except ClanError as exc:
        sys.stderr.write("%s\n" % exc)
        return 1


if __name__ == "__main__":
    sys.exit(main())
