"""The inventory plugin on clans that are not this fleet (issue 14) and its option/target checks (issue 8 item 4).

Like tests/unit/test_inventory_plugin.py, `ansible-inventory` runs for real
against a stand-in `nix` that prints a fixed INVENTORY_APPLY result; the
shapes here are what clan-core's templates evaluate to (a `clan` output, or
only `clanInternals`, and no `fleet` output). The same against real template
clans is tests/integration/test_inventory_templates.py.
"""
from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path

import pytest

from ansible_collections.fleet.migration.plugins.module_utils import clan_inventory
from test_inventory_plugin import BASE, GOOD, listed, one_line, project, write_fake_nix  # noqa: F401  pylint: disable=unused-import  # project is a fixture

# A clan made from clan-core's default template: no fleet output, no phase tags.
PLAIN = {
    "clanSource": "clan",
    "outputs": ["clan", "clanInternals", "devShells", "nixosConfigurations", "nixosModules"],
    "machines": {
        "alpha": {"machineClass": "nixos", "tags": ["web", "all", "nixos"], "description": None,
                  "deploy": {"targetHost": "root@alpha.example.org:2222", "buildHost": None}},
        "beta": {"machineClass": "darwin", "tags": ["web", "all", "darwin"], "description": None,
                 "deploy": {"targetHost": "admin@[2001:db8::1]:22", "buildHost": None}},
        "gamma": {"machineClass": "nixos", "tags": ["db", "all", "nixos"], "description": None,
                  "deploy": {"targetHost": "root@2001:db8::2", "buildHost": None}},
    },
    "instances": {"sshd": {"module": {"name": "sshd", "input": None},
                           "roles": {"server": {"machines": [], "tags": ["all"]}}}},
    "fleet": {"ports": None, "publicSurface": None, "domain": None, "generators": None},
}
ALL_FLEET = ["fleet_domain", "fleet_expected_secrets", "fleet_phase", "fleet_ports", "fleet_public_surface"]


def fresh(data: dict) -> dict:
    return json.loads(json.dumps(data))


def run_with(project, data: dict, config: str = BASE):
    bin_dir = project.dir / "bin"
    write_fake_nix(bin_dir, stdout=json.dumps(data))
    return project(config, path_dirs=[bin_dir])


# ---------------------------------------------------------------- any clan


@pytest.mark.parametrize("source", ["clan", "clanInternals"])
def test_plain_clan_lists_hosts_groups_and_targets(project, source):
    data = fresh(PLAIN)
    data["clanSource"] = source
    out = listed(run_with(project, data))
    hv = out["_meta"]["hostvars"]
    assert sorted(hv) == ["alpha", "beta", "gamma"]
    assert (hv["alpha"]["ansible_host"], hv["alpha"]["ansible_port"], hv["alpha"]["ansible_user"]) == \
        ("alpha.example.org", 2222, "root")
    assert (hv["beta"]["ansible_host"], hv["beta"]["ansible_port"], hv["beta"]["ansible_user"]) == \
        ("2001:db8::1", 22, "admin")
    assert (hv["gamma"]["ansible_host"], hv["gamma"]["ansible_user"], "ansible_port" in hv["gamma"]) == \
        ("2001:db8::2", "root", False)
    assert sorted(out["web"]["hosts"]) == ["alpha", "beta"]
    assert sorted(out["nixos"]["hosts"]) == ["alpha", "gamma"] and out["darwin"]["hosts"] == ["beta"]
    assert hv["gamma"]["clan_services"] == {"sshd": ["server"]}


def test_plain_clan_says_which_fleet_facts_are_missing(project):
    hv = listed(run_with(project, fresh(PLAIN)))["_meta"]["hostvars"]["alpha"]
    assert hv["fleet_facts_missing"] == ALL_FLEET
    assert not [var for var in ALL_FLEET if var in hv]


def test_partial_fleet_output_sets_what_is_there(project):
    data = fresh(PLAIN)
    data["fleet"]["ports"] = {"ssh": 22}
    data["machines"]["alpha"]["tags"].append("phase3")
    hv = listed(run_with(project, data))["_meta"]["hostvars"]
    assert hv["alpha"]["fleet_ports"] == {"ssh": 22} and hv["alpha"]["fleet_phase"] == 3
    assert hv["alpha"]["fleet_facts_missing"] == ["fleet_domain", "fleet_expected_secrets", "fleet_public_surface"]
    assert "fleet_phase" in hv["beta"]["fleet_facts_missing"]


def test_full_fleet_output_has_no_missing_list(project):
    data = fresh(GOOD)
    data["fleet"].update(domain="fleet", generators={})
    hv = listed(run_with(project, data))["_meta"]["hostvars"]
    assert not [h for h, v in hv.items() if "fleet_facts_missing" in v]
    assert hv["ctl"]["fleet_expected_secrets"] == [] and hv["ctl"]["fleet_domain"] == "fleet"


def test_flake_without_a_clan_names_what_was_expected(project):
    data = fresh(PLAIN)
    data.update(clanSource=None, outputs=["packages"], machines={}, instances={})
    proc = run_with(project, data)
    assert proc.returncode != 0
    assert ("no clan found: expected the flake output clan.inventory (clan-core's lib.clan exported as "
            "`clan = clan.config;`, or clan-core's flakeModules.default) or clanInternals.inventoryClass.inventory, "
            "found the outputs ['packages']; export the clan the way clan-core's templates do") in one_line(proc.stderr)


def test_malformed_fleet_output_is_an_error_naming_it(project):
    data = fresh(PLAIN)
    data["fleet"]["ports"] = [22]
    proc = run_with(project, data)
    assert proc.returncode != 0
    assert ("flake output fleet.ports: expected an attribute set of service name to port, found [22]; fix the "
            "output or remove it (it is optional, the fleet-only variables then go to fleet_facts_missing)") \
        in one_line(proc.stderr)


def test_strict_expression_needing_a_missing_fact_fails_closed_naming_it(project):
    config = BASE + "strict: true\nkeyed_groups:\n  - key: fleet_phase\n    prefix: phase\n"
    proc = run_with(project, fresh(PLAIN), config)
    assert proc.returncode != 0
    err = one_line(proc.stderr)
    assert ("fleet.migration.clan: host 'alpha': an expression of compose, groups or keyed_groups needs fleet_phase, "
            "expected from a phaseN tag on the machine in the clan inventory; found nothing (fleet_facts_missing: "
            "['fleet_domain', 'fleet_expected_secrets', 'fleet_phase', 'fleet_ports', 'fleet_public_surface']). "
            "Add that to the flake, give the expression a default (e.g. fleet_phase | default(...)), or set "
            "strict: false to skip it.") in err


def test_non_strict_expression_needing_a_missing_fact_is_skipped(project):
    config = BASE + "strict: false\nkeyed_groups:\n  - key: fleet_phase\n    prefix: phase\n"
    out = listed(run_with(project, fresh(PLAIN), config))
    assert sorted(out["_meta"]["hostvars"]) == ["alpha", "beta", "gamma"]
    assert not [g for g in out if g.startswith("phase")]


# ---------------------------------------------------------------- options (issue 8 item 4)


def test_misspelled_option_is_an_error_naming_it_and_the_valid_ones(project):
    proc = run_with(project, fresh(GOOD), BASE + "strcit: true\n")
    assert proc.returncode != 0
    err = one_line(proc.stderr)
    assert "fleet.migration.clan: unknown option 'strcit' (did you mean 'strict'?) in " in err
    assert "test.clan.yml: expected one of " in err and "fix the spelling or remove it" in err
    for valid in ("flake", "nix_offline", "strict", "keyed_groups", "timeout", "cache"):
        assert valid in err.split("expected one of ", 1)[1]


# ---------------------------------------------------------------- deploy targets (issue 8 item 4)


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("root@host:2222", {"ansible_host": "host", "ansible_port": 2222, "ansible_user": "root"}),
        ("root@[2001:db8::1]:22", {"ansible_host": "2001:db8::1", "ansible_port": 22, "ansible_user": "root"}),
        ("root@[2001:db8::1]", {"ansible_host": "2001:db8::1", "ansible_user": "root"}),
        ("root@2001:db8::1", {"ansible_host": "2001:db8::1", "ansible_user": "root"}),
        ("fe80::1%eth0", {"ansible_host": "fe80::1%eth0"}),
        ("192.0.2.7:22", {"ansible_host": "192.0.2.7", "ansible_port": 22}),
        ("ssh://root@host?IdentityFile=/k&StrictHostKeyChecking=no",
         {"ansible_host": "host", "ansible_user": "root",
          "ansible_ssh_common_args": "-o IdentityFile=/k -o StrictHostKeyChecking=no"}),
    ],
)
def test_target_keeps_user_port_and_ipv6(target, expected):
    assert clan_inventory.parse_target_host("m", target) == expected


@pytest.mark.parametrize(
    ("target", "reason"),
    [
        ("root@ctl:22:33", "'ctl:22:33' has more than one ':' but is not an IPv6 address (write an address with a "
                           "port as [addr]:port)"),
        ("root@[nothex]:22", "'[nothex]:22' is not a bracketed IPv6 address with an optional :port"),
        ("root@host:ssh", "the port 'ssh' is not a number"),
        ("root@host:70000", "the port 70000 is outside 1-65535"),
        ("a@b@host", "more than one '@'"),
        ("root@", "no host name"),
        ("root@host?IdentityFile", "the option 'IdentityFile' has no value (expected Option=value)"),
    ],
)
def test_bad_target_names_machine_form_found_and_fix(target, reason):
    with pytest.raises(clan_inventory.InventoryDataError) as err:
        clan_inventory.parse_target_host("web", target)
    assert str(err.value) == (
        "machine 'web': deploy.targetHost expected the form [user@]host[:port] (IPv6 as [addr]:port or a bare addr, "
        "options as ?Option=value), found %r (%s); fix clan.inventory.machines.web.deploy.targetHost"
        % (target, reason))


# ---------------------------------------------------------------- offline helper


FAKE_HELPER = textwrap.dedent("""\
    import json, os, sys
    def flags():
        lock = json.load(open("flake.lock"))
        with open(os.environ["HELPER_LOG"], "a") as log:
            log.write(json.dumps({"name": __name__, "cwd": os.getcwd()}) + "\\n")
        if lock.get("fail"):
            sys.exit("nix-offline flags: no mirror (fetch it)")
        print("--override-input nixpkgs git+file:///lib")
        return 0
    if __name__ == "__main__":
        sys.exit(flags())
    """)


def _with_helper(project, lock: dict):
    shared = project.dir / "shared"
    (shared / "nix-offline").mkdir(parents=True)
    (shared / "nix-offline" / "nix_offline.py").write_text(FAKE_HELPER)
    (project.dir / "flake.lock").write_text(json.dumps(lock))
    bin_dir = project.dir / "bin"
    write_fake_nix(bin_dir, stdout=json.dumps(GOOD))
    log = project.dir / "helper.jsonl"
    env = {"FLEET_SHARED": str(shared), "HELPER_LOG": str(log)}
    proc = project("plugin: fleet.migration.clan\nnix_offline: auto\n", path_dirs=[bin_dir], extra_env=env)
    return proc, bin_dir, [json.loads(line) for line in log.read_text().splitlines()]


def test_offline_helper_runs_in_process_in_the_flake_directory(project):
    proc, bin_dir, runs = _with_helper(project, {})
    listed(proc)
    argv = json.loads((bin_dir / "argv.json").read_text())
    assert argv[4:8] == ["--override-input", "nixpkgs", "git+file:///lib", "--no-write-lock-file"]
    # One run, not as a second Python's __main__, in the flake's directory.
    assert runs == [{"name": "nix_offline_flags", "cwd": str(project.dir)}]


def test_offline_helper_failing_reports_the_helper_error(project):
    proc, _bin, runs = _with_helper(project, {"fail": True})
    assert proc.returncode != 0
    assert "exited 1: nix-offline flags: no mirror (fetch it); fix the helper (is the nixpkgs.lib mirror fetched?) " \
           "or set nix_offline to never" in one_line(proc.stderr)
    assert [r["name"] for r in runs] == ["nix_offline_flags", "__main__"]


# ---------------------------------------------------------------- native groups (no per-host templating)


def test_role_groups_and_class_group_prefix(project):
    data = fresh(GOOD)
    data["instances"]["zt"]["module"]["name"] = "@fleet/zerotier"
    data["instances"]["other"] = {"module": {"name": "zerotier-ng", "input": None},
                                  "roles": {"controller": {"machines": ["mac"], "tags": []}}}
    config = BASE + ("role_groups:\n  zerotier_controllers: {module: zerotier, role: controller}\n"
                     "  ssh-clients: {module: sshd, role: client}\nclass_group_prefix: class_\n")
    out = listed(run_with(project, data, config))
    assert out["zerotier_controllers"]["hosts"] == ["ctl"]  # not mac: zerotier-ng is another module
    assert out["ssh_clients"]["hosts"] == ["mac"]
    assert (out["class_nixos"]["hosts"], out["class_darwin"]["hosts"]) == (["ctl"], ["mac"])


def test_role_group_malformed_names_it(project):
    proc = run_with(project, fresh(GOOD), BASE + "role_groups:\n  zt: zerotier\n")
    assert proc.returncode != 0
    assert ("fleet.migration.clan: role_groups.zt: expected {module: NAME, role: ROLE} (a clan service module name "
            "and one of its roles), found 'zerotier'; fix role_groups in the inventory file") in one_line(proc.stderr)


# ---------------------------------------------------------------- warm start


def _git_logging(bin_dir, log):
    """A `git` that logs its argv and runs the real one."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    script = bin_dir / "git"
    script.write_text("#!/bin/sh\necho \"$*\" >> %s\nexec /usr/bin/git \"$@\"\n" % log)
    script.chmod(0o755)


def test_warm_start_reuses_the_file_list_until_the_git_index_changes(project):
    import subprocess  # pylint: disable=import-outside-toplevel
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid", "-C", str(project.dir)]
    subprocess.run(git + ["init", "-q"], check=True)
    subprocess.run(git + ["add", "flake.nix"], check=True)
    subprocess.run(git + ["commit", "-qm", "flake"], check=True)
    bin_dir, log = project.dir / "bin", project.dir / "git.log"
    _git_logging(bin_dir, log)
    write_fake_nix(bin_dir, stdout=json.dumps(GOOD))
    config = BASE + "cache: true\n"
    listed(project(config, path_dirs=[bin_dir]))
    assert "ls-files" in log.read_text()
    log.write_text("")
    write_fake_nix(bin_dir, stderr="error: boom\n", rc=1)
    assert "ctl" in listed(project(config, path_dirs=[bin_dir]))["_meta"]["hostvars"]
    assert "ls-files" not in log.read_text()  # warm: no git process
    # A newly tracked file changes the index, so the list is read again and the cache is stale.
    (project.dir / "extra.nix").write_text("{ }\n")
    subprocess.run(git + ["add", "extra.nix"], check=True)
    proc = project(config, path_dirs=[bin_dir])
    assert proc.returncode != 0 and "error: boom" in proc.stderr


# ---------------------------------------------------------------- source: clan_cli on a plain clan


FAKE_CLAN_SELECT = Path(__file__).resolve().parents[1] / "fakes" / "fake_clan_select.py"


def outputs_of(data: dict) -> dict:
    """The flake outputs a clan with INVENTORY_APPLY result ``data`` has, as `clan select` sees them.

    Role members are attribute sets with settings, as in clan's inventory; the
    `fleet` output exists only with the fleet outputs that are not null.
    """
    inventory = {
        "machines": {name: dict(m, deploy=m["deploy"]) for name, m in data["machines"].items()},
        "instances": {name: {"module": inst["module"],
                             "roles": {role: {"machines": {m: {"settings": {}} for m in r["machines"]},
                                              "tags": {t: {} for t in r["tags"]}}
                                       for role, r in inst["roles"].items()}}
                      for name, inst in data["instances"].items()},
    }
    outputs = {"clanInternals": {"inventoryClass": {"inventory": inventory}}, "nixosConfigurations": {}}
    if data["clanSource"] == "clan":
        outputs["clan"] = {"inventory": inventory}
    fleet = {k: v for k, v in (data.get("fleet") or {}).items() if v is not None}
    if fleet:
        outputs["fleet"] = fleet
    return outputs


def run_with_clan(project, outputs: dict, config: str = "plugin: fleet.migration.clan\nsource: clan_cli\n"):
    bin_dir = project.dir / "clan-bin"
    bin_dir.mkdir(exist_ok=True)
    (bin_dir / "clan").write_text('#!/bin/sh\nexec "%s" "%s" "$@"\n' % (sys.executable, FAKE_CLAN_SELECT))
    (bin_dir / "clan").chmod(0o755)
    (project.dir / "outputs.json").write_text(json.dumps(outputs))
    return project(config, path_dirs=[bin_dir], extra_env={"FAKE_CLAN_OUTPUTS": str(project.dir / "outputs.json")})


@pytest.mark.parametrize("source", ["clan", "clanInternals"])
def test_clan_cli_source_on_a_plain_clan_gives_what_the_nix_source_gives(project, source):
    data = fresh(PLAIN)
    data["clanSource"] = source
    via_clan = listed(run_with_clan(project, outputs_of(data)))
    assert sorted(via_clan["_meta"]["hostvars"]) == ["alpha", "beta", "gamma"]
    assert via_clan["_meta"]["hostvars"]["alpha"]["fleet_facts_missing"] == ALL_FLEET
    assert via_clan == listed(run_with(project, data))


def test_clan_cli_source_with_part_of_the_fleet_output(project):
    data = fresh(PLAIN)
    data["fleet"].update(ports={"ssh": 22}, domain="example.org")
    data["machines"]["alpha"]["tags"].append("phase3")
    via_clan = listed(run_with_clan(project, outputs_of(data)))
    hv = via_clan["_meta"]["hostvars"]["alpha"]
    assert (hv["fleet_ports"], hv["fleet_domain"], hv["fleet_phase"]) == ({"ssh": 22}, "example.org", 3)
    assert hv["fleet_facts_missing"] == ["fleet_expected_secrets", "fleet_public_surface"]
    assert via_clan == listed(run_with(project, data))


def test_clan_cli_source_on_a_flake_without_a_clan_says_so(project):
    proc = run_with_clan(project, {"packages": {}})
    assert proc.returncode != 0
    assert ("fleet.migration.clan: no clan found in flake '%s': expected the flake output "
            "clanInternals.inventoryClass.inventory (every clan made with clan-core's lib.clan or flakeModules.default "
            "has it), found a flake without clanInternals ('clan select --flake %s %s' said: Reason: attribute "
            "'clanInternals' missing. Use flag '--debug' to see full nix trace.); export the clan the way clan-core's "
            "templates do (templates/clan/default) or set flake to a clan"
            % (project.dir, project.dir, clan_inventory.CLAN_SELECTORS["machines"])) in one_line(proc.stderr)
