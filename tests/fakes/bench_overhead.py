"""Benchmark: each fleet.migration wrapper against calling the same CLI directly.

Not a test. Run from the repository root with the venv active:
    python tests/fakes/bench_overhead.py [--runs N]
It prints a Markdown table (docs/BENCHMARKS.md records one run).

Each module runs as a separate process the way Ansible runs it (a Python
interpreter importing ansible.module_utils, arguments from a JSON file), in a
steady state where nothing changes (the second, idempotent run). The direct
baseline is the one CLI command a person would type for the same job. clan,
darwin-rebuild, tofu and ssh are the contract fakes of tests/fakes (real ones
are not installed here); nix is the real nix. Overhead = wrapper - direct.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / ".collections"))

from fakes import install, path_with, profiles  # noqa: E402
from support import nix as nixsupport  # noqa: E402


def timed(argv: list[str], env: dict, cwd: str | None = None) -> float:
    started = time.perf_counter()
    proc = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    if proc.returncode not in (0, 2):
        raise SystemExit("benchmark command failed: %s\n%s\n%s" % (argv, proc.stdout[-2000:], proc.stderr[-2000:]))
    return elapsed


def module_argv(name: str, args: dict, scratch: Path) -> list[str]:
    path = scratch / ("%s-args.json" % name)
    path.write_text(json.dumps({"ANSIBLE_MODULE_ARGS": args}))
    return [sys.executable, "-m", "ansible_collections.fleet.migration.plugins.modules.%s" % name, str(path)]


def median_of(runs: int, argv: list[str], env: dict, cwd: str | None = None) -> float:
    return statistics.median([timed(argv, env, cwd) for _run in range(runs)])


def scenarios(scratch: Path) -> list[tuple[str, str, list[str], list[str], dict, str | None]]:
    env = dict(os.environ)
    env["PATH"] = path_with(install(scratch / "bin"))
    env["PYTHONPATH"] = str(REPO / ".collections")
    env["FAKE_CLAN_STATE"] = str(scratch / "clan")
    env["FAKE_DARWIN_STATE"] = str(scratch / "darwin")
    env["FAKE_TOFU_STATE"] = str(scratch / "tofu")
    env["FAKE_DARWIN_UID"] = "0"
    flake = scratch / "flake"
    flake.mkdir()
    top = "/nix/store/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-nixos-system-web"
    (scratch / "clan").mkdir()
    (scratch / "clan" / "flake.json").write_text(json.dumps({"machines": {"web": {
        "targetHost": "root@web.fleet", "toplevel": top,
        "generators": {"openssh": {"files": {"key": {"secret": True}, "key.pub": {"secret": False}}}}}}}))
    profiles.set_path(scratch / "clan/hosts/web.fleet/nix/var/nix/profiles/system", top)
    (scratch / "darwin").mkdir()
    (scratch / "darwin" / "config.json").write_text(json.dumps(
        {"hosts": {"blackphos": {"system": "/nix/store/bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb-darwin-system"}}}))
    project = scratch / "project"
    project.mkdir()
    (project / "config.tf.json").write_text(json.dumps({
        "terraform": {"encryption": {"key_provider": {"pbkdf2": {"k": {"passphrase": "${var.pass}"}}},
                                     "method": {"aes_gcm": {"m": {"keys": "${key_provider.pbkdf2.k}"}}},
                                     "state": {"method": "${method.aes_gcm.m}", "enforced": True}}},
        "variable": {"pass": {"type": "string"}},
        "resource": {"hcloud_server": {"cinnabar": {"name": "cinnabar", "server_type": "cx53"}}}}))
    env["TF_VAR_pass"] = "benchmark-passphrase-0123"
    darwin_profile = str(scratch / "darwin/profiles/system")
    nix_flags = list(nixsupport.offline_flags(str(REPO)))
    rows = [
        ("clan_machine (update)", "clan machines update",
         module_argv("clan_machine", dict(machine="web", flake=str(flake), target_host="root@web.fleet"), scratch),
         ["clan", "machines", "update", "web", "--flake", str(flake), "--target-host", "root@web.fleet"], None),
        ("clan_vars (generate)", "clan vars generate",
         module_argv("clan_vars", dict(machine="web", flake=str(flake)), scratch),
         ["clan", "vars", "generate", "web", "--flake", str(flake)], None),
        ("darwin_rebuild (switch)", "darwin-rebuild switch",
         module_argv("darwin_rebuild", dict(host="blackphos", flake="/fleet", profile=darwin_profile), scratch),
         ["darwin-rebuild", "switch", "--flake", "/fleet#blackphos"], None),
        ("terraform (present)", "tofu apply -auto-approve",
         module_argv("terraform", dict(project_path=str(project)), scratch),
         ["tofu", "apply", "-input=false", "-auto-approve"], str(project)),
        ("nix_flake (eval, real nix)", "nix eval --json",
         module_argv("nix_flake", dict(flake=str(REPO), attr="fleet.ports"), scratch),
         ["nix", "eval", "--json", "%s#fleet.ports" % REPO] + nix_flags, str(REPO)),
    ]
    # Bring every fake to its steady state (first runs create generations, vars, state).
    for _name, _direct_name, wrapper, _direct, cwd in rows:
        timed(wrapper, env, cwd)
    subprocess.run(["tofu", "init", "-input=false"], env=env, cwd=str(project), capture_output=True, check=False)
    return [(name, direct_name, wrapper, direct, env, cwd) for name, direct_name, wrapper, direct, cwd in rows]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="fleet-bench-"))
    try:
        interpreter = median_of(args.runs, [sys.executable, "-c",
                                            "import ansible.module_utils.basic"], dict(os.environ))
        print("| Wrapper | Direct command | Direct (s) | Wrapper (s) | Overhead (s) |")
        print("|---|---|---:|---:|---:|")
        for name, direct_name, wrapper, direct, env, cwd in scenarios(scratch):
            direct_s = median_of(args.runs, direct, env, cwd)
            wrapper_s = median_of(args.runs, wrapper, env, cwd)
            print("| %s | `%s` | %.3f | %.3f | %.3f |" % (name, direct_name, direct_s, wrapper_s, wrapper_s - direct_s))
        print("\nPython start-up + `import ansible.module_utils.basic` alone: %.3f s (median of %d)."
              % (interpreter, args.runs))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
