"""Unit tests of the fleet.migration.clan inventory plugin and its helpers.

The error paths run the real `ansible-inventory` against a stand-in `nix`
written into the test's temporary directory: what is under test is our
handling of nix's failures, so the stand-in only prints the stderr and exit
codes nix 2.34 prints in those cases (copied from real runs, quoted below).
The happy path against the real nix and the real flake is
tests/integration/test_inventory_real.py.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from ansible_collections.fleet.migration.plugins.module_utils import clan_inventory, nix_eval
from support.ansible_json import unwrap  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
ANSIBLE_INVENTORY = Path(sys.executable).with_name("ansible-inventory")

# A well-formed result of clan_inventory.INVENTORY_APPLY.
GOOD = {
    "machines": {
        "ctl": {"machineClass": "nixos", "tags": ["server", "vps", "phase1", "all", "nixos"],
                "description": "controller", "deploy": {"targetHost": "root@ctl.example:2222", "buildHost": None}},
        "mac": {"machineClass": "darwin", "tags": ["workstation", "zt-peer", "phase2", "all", "darwin"],
                "description": None, "deploy": {"targetHost": "alice@mac.example", "buildHost": None}},
    },
    "instances": {
        "zt": {"module": {"name": "zerotier", "input": "clan-core"},
               "roles": {"controller": {"machines": ["ctl"], "tags": []},
                         "peer": {"machines": [], "tags": ["all"]}}},
        "ssh": {"module": {"name": "sshd", "input": None},
                "roles": {"server": {"machines": [], "tags": ["nixos"]},
                          "client": {"machines": ["mac"], "tags": []}}},
    },
    "fleet": {"ports": {"ssh": 22}, "publicSurface": {"tcp": ["ssh"], "udp": []}},
}


def write_fake_nix(bin_dir: Path, *, stdout: str = "", stderr: str = "", rc: int = 0, sleep: float = 0) -> Path:
    """A `nix` that prints fixed output; records its argv in bin_dir/argv.json."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    script = bin_dir / "nix"
    script.write_text(textwrap.dedent(f"""\
        #!{sys.executable}
        import json, sys, time
        json.dump(sys.argv, open({str(bin_dir / 'argv.json')!r}, "w"))
        time.sleep({sleep!r})
        sys.stdout.write({stdout!r})
        sys.stderr.write({stderr!r})
        sys.exit({rc!r})
        """))
    script.chmod(0o755)
    return script


@pytest.fixture
def project(tmp_path: Path):
    """A directory with a flake.nix, an ansible.cfg and a way to run ansible-inventory."""
    (tmp_path / "flake.nix").write_text("{ outputs = _: { }; }\n")
    (tmp_path / "ansible.cfg").write_text(textwrap.dedent(f"""\
        [defaults]
        collections_path = {REPO / '.collections'}
        [inventory]
        enable_plugins = fleet.migration.clan
        unparsed_is_failed = True
        cache_plugin = ansible.builtin.jsonfile
        cache_connection = {tmp_path / 'cache'}
        """))

    def run(config: str, path_dirs: list[Path] | None = None, extra_env: dict | None = None):
        inv = tmp_path / "inventory" / "test.clan.yml"
        inv.parent.mkdir(exist_ok=True)
        inv.write_text(config)
        env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
        env["ANSIBLE_CONFIG"] = str(tmp_path / "ansible.cfg")
        env["PATH"] = os.pathsep.join([str(p) for p in (path_dirs or [])] + [str(ANSIBLE_INVENTORY.parent), "/usr/bin",
                                                                             "/bin"])
        env.update(extra_env or {})
        proc = subprocess.run([str(ANSIBLE_INVENTORY), "-i", str(inv), "--list"], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=120, check=False)
        return proc

    run.dir = tmp_path
    return run


def listed(proc) -> dict:
    assert proc.returncode == 0, proc.stderr
    return unwrap(json.loads(proc.stdout))


def one_line(text: str) -> str:
    return " ".join(text.split())


BASE = "plugin: fleet.migration.clan\nnix_offline: never\n"


# ---------------------------------------------------------------- error paths


def test_nix_missing_names_the_binary_and_what_to_do(project):
    proc = project(BASE + "nix_bin: nix\n", path_dirs=[project.dir / "empty"])
    assert proc.returncode != 0
    assert "fleet.migration.clan: nix not found: expected the 'nix' executable on PATH" in proc.stderr
    assert "install nix (scripts/setup does it) or set nix_bin to its path" in one_line(proc.stderr)


def test_evaluation_error_shows_nix_own_message_without_warnings(project):
    # stderr as nix 2.34 prints it for `--apply 'c: throw "boom"'` after an offline override.
    stderr = ("warning: not writing modified lock file of flake 'git+file:///x':\n"
              "error:\n       … while calling the 'throw' builtin\n         at «string»:1:4:\n\n"
              "       error: boom\n")
    bin_dir = project.dir / "bin"
    write_fake_nix(bin_dir, stderr=stderr, rc=1)
    proc = project(BASE, path_dirs=[bin_dir])
    assert proc.returncode != 0
    err = one_line(proc.stderr)
    assert "fleet.migration.clan: nix evaluation failed (exit 1) for" in err
    assert "error: boom" in err
    assert "fix the flake so that it evaluates, then rerun" in err
    assert "not writing modified lock file" not in err


def test_flake_directory_missing(project):
    proc = project(BASE + f"flake: {project.dir / 'nowhere'}\n")
    assert proc.returncode != 0
    assert (f"flake not found: expected a directory containing flake.nix at '{project.dir / 'nowhere'}', found no "
            "such directory; set the flake option") in one_line(proc.stderr)


def test_flake_directory_without_flake_nix(project):
    (project.dir / "notaflake").mkdir()
    proc = project(BASE + f"flake: {project.dir / 'notaflake'}\n")
    assert proc.returncode != 0
    assert f"flake not found: expected '{project.dir / 'notaflake'}' to contain flake.nix, found none" in proc.stderr


def test_flake_reference_nix_cannot_find(project):
    # nix 2.34: `nix eval foo#x` prints this and exits 1.
    bin_dir = project.dir / "bin"
    write_fake_nix(bin_dir, stderr="error: cannot find flake 'flake:nosuch' in the flake registries\n", rc=1)
    proc = project(BASE + "flake: nosuch\n", path_dirs=[bin_dir])
    assert proc.returncode != 0
    err = one_line(proc.stderr)
    assert "flake not found: nix could not open the flake of 'nosuch#.'" in err
    assert "cannot find flake 'flake:nosuch' in the flake registries" in err


def test_inventory_file_outside_any_flake(tmp_path, project):
    # The default flake is the nearest flake.nix above the inventory file.
    (project.dir / "flake.nix").unlink()
    proc = project(BASE)
    assert proc.returncode != 0
    assert "fleet.migration.clan: flake not found: expected a flake.nix in" in proc.stderr
    assert "set the flake option in" in proc.stderr


def test_timeout_names_the_limit(project):
    bin_dir = project.dir / "bin"
    write_fake_nix(bin_dir, stdout=json.dumps(GOOD), sleep=5)
    proc = project(BASE + "timeout: 1\n", path_dirs=[bin_dir])
    assert proc.returncode != 0
    assert "nix timed out: expected 'nix eval --json' to finish within 1s, it did not; raise the timeout option" \
        in one_line(proc.stderr)


def test_nix_bin_that_cannot_run(project):
    not_executable = project.dir / "nix-not-executable"
    not_executable.write_text("not a program\n")
    proc = project(BASE + f"nix_bin: {not_executable}\n")
    assert proc.returncode != 0
    assert f"fleet.migration.clan: nix could not be run: {not_executable}" in proc.stderr
    assert "check nix_bin" in proc.stderr


def test_offline_flags_command_failing(project):
    proc = project("plugin: fleet.migration.clan\noffline_flags_command: [sh, -c, 'echo no mirror >&2; exit 3']\n")
    assert proc.returncode != 0
    assert ("offline flags command ['sh', '-c', 'echo no mirror >&2; exit 3'] exited 3: no mirror; fix the helper "
            "(is the nixpkgs.lib mirror fetched?) or set nix_offline to never") in one_line(proc.stderr)


def test_output_that_is_not_json(project):
    bin_dir = project.dir / "bin"
    write_fake_nix(bin_dir, stdout="«lambda»")
    proc = project(BASE, path_dirs=[bin_dir])
    assert proc.returncode != 0
    assert "nix printed no JSON for" in proc.stderr


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda d: d.update(machines=["ctl"]),
         "malformed inventory from flake '{flake}': clan.inventory.machines: expected an attribute set of machines, "
         "found list"),
        (lambda d: d["machines"]["ctl"]["deploy"].update(targetHost="root@ctl:22:33"),
         "machine 'ctl': deploy.targetHost expected the form [user@]host[:port] (IPv6 as [addr]:port or a bare "
         "addr, options as ?Option=value), found 'root@ctl:22:33' ('ctl:22:33' has more than one ':' but is not an "
         "IPv6 address (write an address with a port as [addr]:port)); fix clan.inventory.machines.ctl.deploy.targetHost"),
        (lambda d: d["machines"]["mac"].update(machineClass="windows"),
         "machine 'mac': machineClass expected one of ['nixos', 'darwin'], found 'windows'"),
        (lambda d: d["machines"]["mac"]["tags"].append("phase3"),
         "machine 'mac': expected at most one phaseN tag, found ['phase2', 'phase3']"),
        (lambda d: d.update(fleet={"ports": {"ssh": 22}, "publicSurface": ["ssh"]}),
         "flake output fleet.publicSurface: expected an attribute set {{tcp, udp}} of fleet.ports names, found ['ssh']"),
        (lambda d: d["machines"]["ctl"].update(tags="server"),
         "machine 'ctl': tags expected a list of strings, found 'server'"),
        (lambda d: d["instances"]["zt"].update(roles=["peer"]),
         "instance 'zt': roles expected an attribute set, found ['peer']"),
        (lambda d: d.update(machines={"ctl": "nixos"}),
         "machine 'ctl': expected an attribute set, found str"),
        (lambda d: d.update(instances=[]),
         "clan.inventory.instances: expected an attribute set, found list"),
    ],
    ids=["machines-not-a-dict", "targethost-unparsable", "unknown-class", "two-phases", "fleet-fact-malformed",
         "tags-not-a-list", "roles-not-a-dict", "machine-not-a-dict", "instances-not-a-dict"],
)
def test_malformed_data(project, mutate, expected):
    data = json.loads(json.dumps(GOOD))
    mutate(data)
    bin_dir = project.dir / "bin"
    write_fake_nix(bin_dir, stdout=json.dumps(data))
    proc = project(BASE, path_dirs=[bin_dir])
    assert proc.returncode != 0
    assert expected.format(flake=project.dir) in one_line(proc.stderr)


# ---------------------------------------------------------------- behaviour


def test_hosts_groups_and_hostvars_from_evaluated_data(project):
    bin_dir = project.dir / "bin"
    write_fake_nix(bin_dir, stdout=json.dumps(GOOD))
    config = BASE + "keyed_groups:\n  - key: fleet_phase | string\n    prefix: phase\n"
    out = listed(project(config, path_dirs=[bin_dir]))
    # One evaluation of the whole outputs with our --apply selector.
    argv = json.loads((bin_dir / "argv.json").read_text())
    assert argv[1:4] == ["eval", "--json", f"{project.dir}#."]
    assert argv[argv.index("--apply") + 1] == clan_inventory.INVENTORY_APPLY
    ctl, mac = out["_meta"]["hostvars"]["ctl"], out["_meta"]["hostvars"]["mac"]
    assert (ctl["ansible_host"], ctl["ansible_user"], ctl["ansible_port"]) == ("ctl.example", "root", 2222)
    assert (mac["ansible_host"], mac["ansible_user"], "ansible_port" in mac) == ("mac.example", "alice", False)
    assert ctl["clan_services"] == {"ssh": ["server"], "zt": ["controller", "peer"]}
    assert mac["clan_services"] == {"ssh": ["client"], "zt": ["peer"]}
    assert ctl["clan_service_modules"] == {"ssh": "sshd", "zt": "zerotier"}
    assert (ctl["fleet_phase"], mac["fleet_phase"]) == (1, 2)
    assert ctl["fleet_ports"] == {"ssh": 22}
    assert ctl["fleet_public_surface"] == {"tcp": ["ssh"], "udp": []}
    assert ctl["clan_machine_class"] == "nixos" and mac["clan_tags"] == GOOD["machines"]["mac"]["tags"]
    assert out["vps"]["hosts"] == ["ctl"]
    assert out["darwin"]["hosts"] == ["mac"]
    assert out["zt_peer"]["hosts"] == ["mac"]  # tag zt-peer, made a valid group name
    assert sorted(out["phase_1"]["hosts"] + out["phase_2"]["hosts"]) == ["ctl", "mac"]


def test_offline_flags_command_is_added_before_user_flags(project):
    bin_dir = project.dir / "bin"
    write_fake_nix(bin_dir, stdout=json.dumps(GOOD))
    config = ("plugin: fleet.migration.clan\nnix_offline: auto\n"
              "offline_flags_command: [echo, --override-input, nixpkgs, 'git+file:///lib']\n"
              "nix_flags: [--show-trace]\n")
    listed(project(config, path_dirs=[bin_dir]))
    argv = json.loads((bin_dir / "argv.json").read_text())
    assert argv[4:9] == ["--override-input", "nixpkgs", "git+file:///lib", "--no-write-lock-file", "--show-trace"]


def test_cache_is_reused_until_the_flake_changes(project):
    bin_dir = project.dir / "bin"
    config = BASE + "cache: true\n"
    write_fake_nix(bin_dir, stdout=json.dumps(GOOD))
    assert "ctl" in listed(project(config, path_dirs=[bin_dir]))["_meta"]["hostvars"]
    # nix now fails: an unchanged flake is answered from the cache...
    write_fake_nix(bin_dir, stderr="error: boom\n", rc=1)
    assert "ctl" in listed(project(config, path_dirs=[bin_dir]))["_meta"]["hostvars"]
    # ...a changed one is evaluated again.
    flake_nix = project.dir / "flake.nix"
    flake_nix.write_text(flake_nix.read_text() + "# changed\n")
    proc = project(config, path_dirs=[bin_dir])
    assert proc.returncode != 0 and "error: boom" in proc.stderr


# ---------------------------------------------------------------- pure helpers


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("root@cinnabar.fleet", {"ansible_host": "cinnabar.fleet", "ansible_user": "root"}),
        ("host.example:2222", {"ansible_host": "host.example", "ansible_port": 2222}),
        ("admin@[fd00::1]:22", {"ansible_host": "fd00::1", "ansible_user": "admin", "ansible_port": 22}),
    ],
)
def test_parse_target_host(target, expected):
    assert clan_inventory.parse_target_host("m", target) == expected


def test_resolve_roles_matches_clan_resolve_tags():
    # clan-core lib/inventory/default.nix resolveTags: explicit machines plus every machine with the tag.
    roles = clan_inventory.resolve_roles(GOOD["machines"], GOOD["instances"])
    assert roles == {"zt": {"controller": ["ctl"], "peer": ["ctl", "mac"]},
                     "ssh": {"server": ["ctl"], "client": ["mac"]}}


def test_offline_always_without_helper(monkeypatch, tmp_path):
    monkeypatch.setenv("FLEET_NIX_ONLINE", "1")
    with pytest.raises(nix_eval.NixError) as err:
        nix_eval.offline_flags(str(tmp_path), "always")
    assert err.value.kind == nix_eval.OFFLINE_FLAGS
    assert "nix_offline=always: expected the offline helper" in str(err.value)


def test_error_text_is_shortened_but_keeps_the_innermost_error():
    stderr = "error:\n" + "".join(f"  … frame {i}\n" for i in range(200)) + "  error: the real cause\n"
    text = nix_eval.nix_error_text(stderr)
    assert text.startswith("error:") and text.endswith("error: the real cause")
    assert "lines omitted" in text and len(text.splitlines()) < 60


def test_validate_names_a_malformed_role():
    data = json.loads(json.dumps(GOOD))
    data["instances"]["zt"]["roles"]["peer"] = {"machines": "ctl", "tags": []}
    with pytest.raises(clan_inventory.InventoryDataError) as err:
        clan_inventory.validate(data)
    assert str(err.value) == ("instance 'zt': role 'peer' expected lists of machines and tags, found "
                              "{'machines': 'ctl', 'tags': []}")


def test_validate_names_a_malformed_module():
    data = json.loads(json.dumps(GOOD))
    data["instances"]["zt"]["module"] = None
    with pytest.raises(clan_inventory.InventoryDataError) as err:
        clan_inventory.validate(data)
    assert str(err.value) == "instance 'zt': module expected {name, input}, found None"


def test_machine_without_target_host_is_listed_with_a_warning(project):
    data = json.loads(json.dumps(GOOD))
    data["machines"]["mac"]["deploy"]["targetHost"] = None
    bin_dir = project.dir / "bin"
    write_fake_nix(bin_dir, stdout=json.dumps(data))
    proc = project(BASE, path_dirs=[bin_dir])
    assert "ansible_host" not in listed(proc)["_meta"]["hostvars"]["mac"]
    assert ("fleet.migration.clan: machine 'mac' has no deploy.targetHost, so ansible_host is not set and Ansible "
            "will connect to 'mac'; set clan.inventory.machines.mac.deploy.targetHost") in one_line(proc.stderr)
