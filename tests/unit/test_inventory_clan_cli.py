"""Unit tests of the inventory plugin's `source: clan_cli` (reading the inventory through `clan select`).

Error paths run the real `ansible-inventory` against a stand-in `clan` written
into the test's temporary directory: what is under test is our handling of the
CLI's failures. The failing stand-in prints what the real clan CLI (clan-core
d7c35d9, installed by scripts/install-clan-cli) printed on this machine when it
could not evaluate; see CLAN_REAL_STDERR. The happy path against the real CLI
is tests/integration/test_clan_cli_real.py; the mapping itself is tested here
as a pure function (clan_inventory.from_clan_select).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from ansible_collections.fleet.migration.plugins.module_utils import clan_inventory

REPO = Path(__file__).resolve().parents[2]
ANSIBLE_INVENTORY = Path(sys.executable).with_name("ansible-inventory")
BASE = "plugin: fleet.migration.clan\nsource: clan_cli\n"

# stderr (not a tty) and exit code (1) of the real `clan select --flake /work/main clan.inventory.machines`
# when clan_lib/runtime-deps/nix-select is absent (clan_lib/flake/flake.py prefetch -> FlakeDoesNotExistError);
# the venv path is shortened to /venv/site-packages.
CLAN_REAL_STDERR = (
    "error: getting status of \"/venv/site-packages/clan_lib/runtime-deps/nix-select\": No such file or directory\n"
    "/venv/site-packages/clan_lib/runtime-deps/nix-select: \n"
    "Flake '/venv/site-packages/clan_lib/runtime-deps/nix-select' does not exist or is not a valid flake.\n"
)

# What `clan select` prints for each of clan_inventory.CLAN_SELECTORS on a small clan.
SELECTED = {
    "machines": {
        "ctl": {"machineClass": "nixos", "tags": ["server", "phase1", "all", "nixos"], "description": "controller",
                "deploy": {"targetHost": "root@ctl.example:2222", "buildHost": None}},
        "mac": {"machineClass": "darwin", "tags": ["workstation", "phase2", "all", "darwin"], "description": None,
                "deploy": {"targetHost": "alice@mac.example", "buildHost": None}},
    },
    "modules": {"zt": {"name": "zerotier", "input": "clan-core"}, "ssh": {"name": "sshd", "input": None}},
    "roles": {
        "zt": {"controller": {"machines": {"ctl": {"settings": {}}}, "tags": {}},
               "peer": {"machines": {}, "tags": {"all": {"settings": {}}}}},
        "ssh": {"server": {"machines": {}, "tags": {"nixos": {}}}, "client": {"machines": {"mac": {}}, "tags": {}}},
    },
    # `?fleet.{...}` (maybe selectors): {"fleet": {the outputs present}}, or {} without a fleet output.
    "fleet": {"fleet": {"ports": {"ssh": 22}, "publicSurface": {"tcp": ["ssh"], "udp": []}}},
}


def write_fake_clan(bin_dir: Path, *, outputs: dict | None = None, stdout: str = "", stderr: str = "", rc: int = 0,
                    sleep: float = 0) -> Path:
    """A `clan` printing fixed output (per selector when `outputs` is given); logs argv to bin_dir/calls.jsonl."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    script = bin_dir / "clan"
    script.write_text(textwrap.dedent(f"""\
        #!{sys.executable}
        import json, sys, time
        with open({str(bin_dir / 'calls.jsonl')!r}, "a") as f:
            f.write(json.dumps(sys.argv[1:]) + "\\n")
        time.sleep({sleep!r})
        outputs = {outputs!r}
        sys.stdout.write(json.dumps(outputs[sys.argv[-1]]) if outputs else {stdout!r})
        sys.stderr.write({stderr!r})
        sys.exit({rc!r})
        """))
    script.chmod(0o755)
    return script


def calls(bin_dir: Path) -> list[list[str]]:
    return [json.loads(line) for line in (bin_dir / "calls.jsonl").read_text().splitlines()]


@pytest.fixture
def project(tmp_path: Path):
    """A directory with a flake.nix and an ansible.cfg; run(config, path_dirs) runs ansible-inventory --list."""
    (tmp_path / "flake.nix").write_text("{ outputs = _: { }; }\n")
    (tmp_path / "ansible.cfg").write_text(textwrap.dedent(f"""\
        [defaults]
        collections_path = {REPO / '.collections'}
        [inventory]
        enable_plugins = fleet.migration.clan
        unparsed_is_failed = True
        """))

    def run(config: str, path_dirs: list[Path] | None = None) -> subprocess.CompletedProcess:
        inv = tmp_path / "inventory" / "test.clan.yml"
        inv.parent.mkdir(exist_ok=True)
        inv.write_text(config)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("ANSIBLE_", "FLEET_"))}
        env["ANSIBLE_CONFIG"] = str(tmp_path / "ansible.cfg")
        env["PATH"] = os.pathsep.join([str(p) for p in (path_dirs or [])]
                                      + [str(ANSIBLE_INVENTORY.parent), "/usr/bin", "/bin"])
        return subprocess.run([str(ANSIBLE_INVENTORY), "-i", str(inv), "--list"], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=120, check=False)

    run.dir = tmp_path
    return run


def one_line(text: str) -> str:
    return " ".join(text.split())


# ---------------------------------------------------------------- error paths


def test_clan_missing_names_the_binary_and_what_to_do(project):
    proc = project(BASE, path_dirs=[project.dir / "empty"])
    assert proc.returncode != 0
    assert ("fleet.migration.clan: clan CLI not found: expected the executable 'clan' (option clan_bin, env "
            "FLEET_CLAN_BIN) for source clan_cli, found none on PATH; install clan-core's CLI, set clan_bin to its "
            "path, or use source: nix") in one_line(proc.stderr)


def test_clan_failing_shows_its_own_stderr_and_the_command(project):
    bin_dir = project.dir / "bin"
    write_fake_clan(bin_dir, stderr=CLAN_REAL_STDERR, rc=1)
    proc = project(BASE + "clan_flags: [--option, warn-dirty, 'false']\n", path_dirs=[bin_dir])
    assert proc.returncode != 0
    text = one_line(proc.stderr)
    selector = clan_inventory.CLAN_SELECTORS["machines"]
    assert ("fleet.migration.clan: 'clan select --flake %s --option warn-dirty false %s' failed with exit code 1, "
            "expected 0; the clan CLI said:" % (project.dir, selector)) in text
    assert "Flake '/venv/site-packages/clan_lib/runtime-deps/nix-select' does not exist or is not a valid flake." \
        in text
    assert "Run the command with --debug for nix's full trace." in text
    # The flags go after `select --flake FLAKE`, before the selector; the first failure stops the run.
    assert calls(bin_dir) == [["select", "--flake", str(project.dir), "--option", "warn-dirty", "false", selector]]


def test_clan_output_that_is_not_json(project):
    bin_dir = project.dir / "bin"
    write_fake_clan(bin_dir, stdout="usage: clan [-h] [SUBCOMMAND]\n")
    proc = project(BASE, path_dirs=[bin_dir])
    assert proc.returncode != 0
    assert ("printed output that is not JSON, expected the JSON document of selector '%s'; found 'usage: clan [-h] "
            "[SUBCOMMAND]'; check that clan_bin is clan-core's CLI" % clan_inventory.CLAN_SELECTORS["machines"]) \
        in one_line(proc.stderr)


def test_clan_timeout_names_the_limit(project):
    bin_dir = project.dir / "bin"
    write_fake_clan(bin_dir, stdout="{}", sleep=5)
    proc = project(BASE + "timeout: 1\n", path_dirs=[bin_dir])
    assert proc.returncode != 0
    assert ("clanInternals.inventoryClass.inventory.machines.*.{machineClass,tags,description,deploy}' did not "
            "finish within 1 seconds; "
            "raise the timeout option or check that nix can fetch the flake's inputs") in one_line(proc.stderr)


def test_clan_output_of_the_wrong_shape(project):
    bin_dir = project.dir / "bin"
    outputs = {clan_inventory.CLAN_SELECTORS[k]: v for k, v in SELECTED.items()}
    outputs[clan_inventory.CLAN_SELECTORS["roles"]] = ["zt"]
    write_fake_clan(bin_dir, outputs=outputs)
    proc = project(BASE, path_dirs=[bin_dir])
    assert proc.returncode != 0
    assert ("fleet.migration.clan: malformed inventory from the clan CLI on flake '%s': clan select "
            "'clanInternals.inventoryClass.inventory.instances.*.roles.*.{machines,tags}': expected an attribute "
            "set, found ['zt']; check "
            "that clan_bin is clan-core's CLI" % project.dir) in one_line(proc.stderr)


def test_clan_flake_directory_missing(project):
    proc = project(BASE + "flake: %s\n" % (project.dir / "nope"), path_dirs=[project.dir / "empty"])
    assert proc.returncode != 0
    assert ("flake not found: expected a directory containing flake.nix at '%s', found no such directory"
            % (project.dir / "nope")) in one_line(proc.stderr)


# ---------------------------------------------------------------- mapping


def test_from_clan_select_gives_the_same_hosts_as_the_nix_source():
    as_nix = {
        "machines": SELECTED["machines"],
        "instances": {
            "zt": {"module": {"name": "zerotier", "input": "clan-core"},
                   "roles": {"controller": {"machines": ["ctl"], "tags": []},
                             "peer": {"machines": [], "tags": ["all"]}}},
            "ssh": {"module": {"name": "sshd", "input": None},
                    "roles": {"server": {"machines": [], "tags": ["nixos"]},
                              "client": {"machines": ["mac"], "tags": []}}},
        },
        "fleet": SELECTED["fleet"]["fleet"],
    }
    hosts = clan_inventory.build_hosts(clan_inventory.from_clan_select(SELECTED))
    assert hosts == clan_inventory.build_hosts(as_nix)
    assert hosts["ctl"]["clan_services"] == {"ssh": ["server"], "zt": ["controller", "peer"]}
    assert hosts["mac"]["ansible_user"] == "alice"


@pytest.mark.parametrize("key, value, expected", [
    ("machines", {"ctl": "x"}, "machine 'ctl': expected an attribute set, found 'x'"),
    ("roles", {"zt": {"peer": {"machines": ["ctl"], "tags": {}}}},
     "instance 'zt': role 'peer' expected machines as an attribute set, found ['ctl']"),
    ("roles", {"zt": {"peer": None}}, "instance 'zt': role 'peer' expected {machines, tags}, found None"),
    ("modules", None, f"clan select '{clan_inventory.CLAN_SELECTORS['modules']}': expected an attribute set, found None"),
    ("fleet", {"fleet": [1]}, "flake output fleet: expected an attribute set, found [1]; fix the output or remove it"),
    ("fleet", [1], "clan select '?fleet.{?ports,?publicSurface,?domain,?generators}': expected {} (no fleet output) "
                   "or {\"fleet\": {...}}, found [1]; check that clan_bin is clan-core's CLI"),
])
def test_from_clan_select_names_what_is_malformed(key, value, expected):
    selected = dict(SELECTED, **{key: value})
    with pytest.raises(clan_inventory.InventoryDataError) as err:
        clan_inventory.build_hosts(clan_inventory.from_clan_select(selected))
    assert expected in str(err.value)


def test_from_clan_select_without_fleet_output_lists_the_missing_facts():
    # A plain clan has no `fleet` output: the fleet facts are missing, not malformed.
    hosts = clan_inventory.build_hosts(clan_inventory.from_clan_select(dict(SELECTED, fleet={})))
    assert all(h["fleet_facts_missing"][:2] == ["fleet_domain", "fleet_expected_secrets"] for h in hosts.values())
