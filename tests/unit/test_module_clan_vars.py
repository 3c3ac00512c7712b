"""fleet.migration.clan_vars against the clan contract fake (tests/fakes/fake_clan.py)."""
from __future__ import annotations

import json

import pytest

from fakes import install, path_with
from fakes import harness
from fakes.harness import run_module

# Each test runs the module as a module and as its action plugin runs it in Ansible's worker.
each_way = harness.each_way
pytestmark = pytest.mark.usefixtures("each_way")


@pytest.fixture
def clan(tmp_path, monkeypatch):
    state = tmp_path / "state"
    state.mkdir()
    flake = tmp_path / "flake"
    flake.mkdir()
    monkeypatch.setenv("FAKE_CLAN_STATE", str(state))
    monkeypatch.setenv("PATH", path_with(install(tmp_path / "bin")))
    config = {"machines": {"web": {"targetHost": "root@web.fleet", "toplevel": "/nix/store/x-nixos-system-web",
                                   "generators": {
                                       "openssh": {"files": {"ssh.id_ed25519": {"secret": True},
                                                             "ssh.id_ed25519.pub": {"secret": False}}},
                                       "zerotier": {"files": {"zerotier-identity-secret": {"secret": True},
                                                              "zerotier-ip": {"secret": False}}},
                                       "zerotier-peers": {"files": {"peers": {"secret": False}},
                                                          "dependencies": ["zerotier"]},
                                   }}}}
    (state / "flake.json").write_text(json.dumps(config))

    class Env:
        pass

    env = Env()
    env.state, env.flake = state, flake
    env.args = lambda **kw: dict(dict(machine="web", flake=str(flake)), **kw)
    env.calls = lambda: [json.loads(line)["argv"] for line in (state / "calls.jsonl").read_text().splitlines()]
    return env


def test_generate_then_second_run_unchanged(clan):
    first = run_module("clan_vars", clan.args())
    assert not first["failed"], first
    assert first["changed"] is True
    assert first["generators_ran"] == ["openssh", "zerotier", "zerotier-peers"]
    assert len(first["missing"]) == 5
    assert str(clan.flake / "vars/per-machine/web/openssh/ssh.id_ed25519/secret") in first["files"]
    assert str(clan.flake / "vars/per-machine/web/zerotier/zerotier-ip/value") in first["files"]
    second = run_module("clan_vars", clan.args())
    assert second["changed"] is False and second["generators_ran"] == [] and second["missing"] == []


def test_results_never_contain_values(clan):
    result = run_module("clan_vars", clan.args())
    ip = (clan.flake / "vars/per-machine/web/zerotier/zerotier-ip/value").read_text()
    secret = (clan.flake / "vars/per-machine/web/openssh/ssh.id_ed25519/secret").read_text()
    listed = run_module("clan_vars", clan.args(action="list"))
    for res in (result, listed):
        text = json.dumps(res)
        assert ip not in text and secret not in text
    assert {"generator": "openssh", "name": "ssh.id_ed25519", "set": True, "secret": True} in listed["vars"]
    assert {"generator": "zerotier", "name": "zerotier-ip", "set": True, "secret": False} in listed["vars"]


def test_generate_named_generator_only(clan):
    result = run_module("clan_vars", clan.args(generators=["openssh"]))
    assert result["generators_ran"] == ["openssh"]
    assert ["clan", "vars", "generate", "web", "--generator", "openssh", "--flake", str(clan.flake)] in clan.calls()
    assert not (clan.flake / "vars/per-machine/web/zerotier").exists()


def test_generate_check_mode_reports_without_writing(clan):
    result = run_module("clan_vars", clan.args(), check_mode=True)
    assert result["changed"] is True and result["generators_ran"] == ["openssh", "zerotier", "zerotier-peers"]
    assert not (clan.flake / "vars").exists()
    assert not any(c[:3] == ["clan", "vars", "generate"] for c in clan.calls())


def test_check_reports_missing_and_fail_on_missing(clan):
    run_module("clan_vars", clan.args(generators=["openssh"]))
    result = run_module("clan_vars", clan.args(action="check"))
    assert not result["failed"] and result["changed"] is False
    assert result["missing"] == ["zerotier/zerotier-identity-secret", "zerotier/zerotier-ip", "zerotier-peers/peers"]
    failed = run_module("clan_vars", clan.args(action="check", generators=["zerotier"], fail_on_missing=True))
    assert failed["failed"]
    assert failed["msg"].startswith("machine web: expected all vars of zerotier to exist, missing: "
                                    "zerotier/zerotier-identity-secret, zerotier/zerotier-ip")
    assert "action=generate" in failed["msg"]
    ok = run_module("clan_vars", clan.args(action="check", generators=["openssh"], fail_on_missing=True))
    assert not ok["failed"] and ok["missing"] == []


def test_regenerate_rotates_generator_and_dependents(clan):
    run_module("clan_vars", clan.args())
    path = clan.flake / "vars/per-machine/web/zerotier/zerotier-ip/value"
    old = path.read_text()
    result = run_module("clan_vars", clan.args(action="regenerate", generators=["zerotier"]))
    assert result["changed"] is True
    assert result["generators_ran"] == ["zerotier", "zerotier-peers"]
    assert path.read_text() != old
    assert ["clan", "vars", "generate", "web", "--generator", "zerotier", "--regenerate", "--flake",
            str(clan.flake)] in clan.calls()


def test_regenerate_check_mode_changes_nothing(clan):
    run_module("clan_vars", clan.args())
    path = clan.flake / "vars/per-machine/web/zerotier/zerotier-ip/value"
    old = path.read_text()
    result = run_module("clan_vars", clan.args(action="regenerate", generators=["zerotier"]), check_mode=True)
    assert result["changed"] is True and result["generators_ran"] == ["zerotier"]
    assert path.read_text() == old


def test_regenerate_without_generators_refuses(clan):
    result = run_module("clan_vars", clan.args(action="regenerate"))
    assert result["failed"]
    assert result["msg"] == ("machine web: action=regenerate needs generators; name the generators to rotate "
                             "(regenerating all of them would replace every secret of web)")


def test_unknown_generator_fails_with_clan_message(clan):
    result = run_module("clan_vars", clan.args(generators=["nope"]))
    assert result["failed"] and result["rc"] == 1
    assert "Could not find generator with name: nope" in result["msg"]
    assert "What to do: run `clan vars generate web` by hand" in result["msg"]
    checked = run_module("clan_vars", clan.args(action="check", generators=["nope"]))
    assert checked["failed"] and "Generator 'nope' not found in machine web" in checked["msg"]
    assert "clan vars check web" in checked["msg"]


def test_unknown_machine_fails(clan):
    result = run_module("clan_vars", clan.args(machine="ghost", action="list"))
    assert result["failed"] and "Machine 'ghost' not found" in result["msg"]


def test_generator_failure_keeps_public_values_out_of_the_error(clan):
    config = json.loads((clan.state / "flake.json").read_text())
    config["machines"]["web"]["generators"]["zzz-broken"] = {
        "files": {"x": {"secret": True}},
        "fail": "openssl: unknown option -bogus",
    }
    (clan.state / "flake.json").write_text(json.dumps(config))
    result = run_module("clan_vars", clan.args())
    assert result["failed"] and result["rc"] == 1
    assert "openssl: unknown option -bogus" in result["msg"]
    assert "SOPS_AGE_KEY_FILE" in result["msg"]
    ip = (clan.flake / "vars/per-machine/web/zerotier/zerotier-ip/value").read_text()
    assert "Updated var zerotier/zerotier-ip" in result["msg"], "the test must see the line whose value is dropped"
    assert ip not in json.dumps(result)


def test_generate_that_leaves_vars_missing_fails(clan):
    config = json.loads((clan.state / "flake.json").read_text())
    config["machines"]["web"]["generators"]["openssh"]["writes_nothing"] = True
    (clan.state / "flake.json").write_text(json.dumps(config))
    result = run_module("clan_vars", clan.args(generators=["openssh"]))
    assert result["failed"]
    assert result["msg"] == ("machine web: clan vars generate ran but vars are still missing: openssh/ssh.id_ed25519, "
                             "openssh/ssh.id_ed25519.pub; run `clan vars generate web` by hand to see why")


def test_list_of_unknown_machine_says_what_to_run(clan):
    result = run_module("clan_vars", dict(clan.args(machine="ghost"), action="list"))
    assert result["failed"]
    assert "Machine 'ghost' not found" in result["msg"]
    assert "What to do: run `clan vars list ghost` by hand" in result["msg"]


def _checks(clan) -> int:
    return len([c for c in clan.calls() if c[:3] == ["clan", "vars", "check"]])


def test_generate_checks_the_vars_once_and_returns_missing_after(clan):
    # issue 13: a first deploy ran `clan vars check` three times per host (before and after
    # generating, then the playbook's own check). Each check evaluates the flake.
    first = run_module("clan_vars", clan.args())
    assert not first["failed"], first.get("msg")
    assert _checks(clan) == 1, "generate must check the vars once"
    assert first["missing_after"] == [] and first["changed"] is True
    second = run_module("clan_vars", clan.args())
    assert _checks(clan) == 2 and second["missing_after"] == [] and second["changed"] is False


def test_generate_check_mode_returns_missing_after_without_generating(clan):
    result = run_module("clan_vars", clan.args(generators=["openssh"]), check_mode=True)
    assert result["missing_after"] == result["missing"] == ["openssh/ssh.id_ed25519", "openssh/ssh.id_ed25519.pub"]
    assert not (clan.flake / "vars").exists()


def test_generate_that_leaves_vars_missing_returns_them(clan):
    config = json.loads((clan.state / "flake.json").read_text())
    config["machines"]["web"]["generators"]["openssh"]["writes_nothing"] = True
    (clan.state / "flake.json").write_text(json.dumps(config))
    result = run_module("clan_vars", clan.args())
    assert result["failed"] and result["missing_after"] == ["openssh/ssh.id_ed25519", "openssh/ssh.id_ed25519.pub"]
    assert "vars are still missing: openssh/ssh.id_ed25519, openssh/ssh.id_ed25519.pub" in result["msg"]


@pytest.mark.parametrize("scheme", ["git+file://", "path:"])
def test_local_flake_reference_finds_the_files_in_its_checkout(clan, scheme):
    result = run_module("clan_vars", clan.args(flake=scheme + str(clan.flake), generators=["openssh"]))
    assert not result["failed"], result
    assert sorted(result["files"]) == [str(clan.flake / "vars/per-machine/web/openssh/ssh.id_ed25519.pub/value"),
                                       str(clan.flake / "vars/per-machine/web/openssh/ssh.id_ed25519/secret")]
    generate = [c for c in clan.calls() if "generate" in c][0]
    assert generate[generate.index("--flake") + 1] == scheme + str(clan.flake)


def test_remote_flake_reference_reports_no_local_files(clan, monkeypatch, tmp_path):
    # A vars tree in the working directory is not the remote flake's.
    (tmp_path / "vars/per-machine/web/openssh/ssh.id_ed25519.pub").mkdir(parents=True)
    (tmp_path / "vars/per-machine/web/openssh/ssh.id_ed25519.pub/value").write_text("x")
    monkeypatch.chdir(tmp_path)
    from ansible_collections.fleet.migration.plugins.modules import clan_vars  # pylint: disable=import-outside-toplevel
    assert clan_vars.var_files("github:owner/clan", "web", [("openssh", "ssh.id_ed25519.pub")]) == []
    assert clan_vars.local_flake_dir("git+file:///srv/clan?ref=main") == "/srv/clan"
    assert clan_vars.local_flake_dir("/srv/clan") == "/srv/clan"
