"""Offline tier: what the first build would catch, for every darwin host and HM user.

Each darwin configuration is evaluated with the real nix-darwin and home-manager
(tests/nix/assertions.nix), the test-only stand-in pkgs (tests/nix/stub-pkgs,
with nixpkgs' pnames and the versions modules compare) and the CI vars fixture
(tests/nix/vars-fixture/store). nix-darwin refuses to build a system with a
failed assertion (modules/system/checks.nix); so does this tier. Warnings must
be exactly the ones docs/INTEGRATION-FINDINGS.md justifies (JUSTIFIED_WARNINGS).
"""
from __future__ import annotations

import functools
import json
import os
import subprocess

import pytest
from support import nix as nixsupport

REPO = nixsupport.REPO
HARNESS = REPO / "tests" / "nix" / "assertions.nix"
STUB = REPO / "tests" / "nix" / "stub-pkgs"
STORE = REPO / "tests" / "nix" / "vars-fixture" / "store"

pytestmark = [pytest.mark.nix, pytest.mark.slow]

# Warnings docs/INTEGRATION-FINDINGS.md ("Assertions and warnings") justifies; each entry
# names its section there. Every other warning the tier found was fixed.
JUSTIFIED_WARNINGS: dict[str, str] = {
    "sops user secrets missing": "Assertions and warnings: the user secrets are the owner's to restore",
}


def darwin_hosts() -> list[str]:
    if not nixsupport.have_nix():
        return []
    return sorted(n for n, m in nixsupport.inventory().items() if m.get("machineClass") == "darwin")


def check(host: str, extra_modules: str = "[ ]") -> dict:
    """The harness's result, plus `evalWarnings`: nix's own `evaluation warning:` lines
    (lib.warn, e.g. deprecated options such as clan.core.clanPkgs), which are not in
    config.warnings but are printed by every build just the same."""
    apply = (f"import {HARNESS} {{ stubPkgs = {STUB}; varsStore = {STORE}; "
             f"extraModules = {extra_modules}; }}")
    cmd = ["nix", "eval", "--json", f"{REPO}#darwinConfigurations.{host}", *nixsupport.offline_flags(str(REPO)),
           "--impure", "--apply", apply]
    res = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if res.returncode:
        raise subprocess.CalledProcessError(res.returncode, cmd, res.stdout, res.stderr)
    result = json.loads(res.stdout)
    result["evalWarnings"] = [line for line in res.stderr.splitlines() if "evaluation warning:" in line
                              or line.startswith("trace: warning")]
    return result


@functools.cache
def checked(host: str) -> dict:
    return check(host)


def failures(result: dict) -> list[str]:
    """Every failed assertion, system and per user, as nix-darwin would print them."""
    return list(result["failedAssertions"])


def unjustified(warnings: list[str]) -> list[str]:
    return [w for w in warnings if not any(key in w for key in JUSTIFIED_WARNINGS)]


HOSTS = darwin_hosts()


def test_there_are_darwin_hosts():
    assert HOSTS, "the clan inventory lists no darwin machine"


@pytest.mark.parametrize("host", HOSTS)
def test_no_failed_assertion(host):
    result = checked(host)
    assert failures(result) == [], f"{host}: nix-darwin would refuse to build: {failures(result)}"
    for user, res in result["homeManager"].items():
        assert res["failedAssertions"] == [], f"{host}: home-manager user {user}: {res['failedAssertions']}"


@pytest.mark.parametrize("host", HOSTS)
def test_every_warning_is_fixed_or_justified(host):
    result = checked(host)
    assert result["evalWarnings"] == [], f"{host}: nix printed evaluation warnings: {result['evalWarnings']}"
    assert unjustified(result["warnings"]) == [], (
        f"{host}: new warnings; fix them or justify each in docs/INTEGRATION-FINDINGS.md and JUSTIFIED_WARNINGS")
    assert result["homeManager"], f"{host}: no home-manager user evaluated"


@pytest.mark.parametrize(
    ("module", "expected"),
    [
        ('{ assertions = [ { assertion = false; message = "tier-probe-system"; } ]; }', "tier-probe-system"),
        ('{ home-manager.users.crs58.assertions = [ { assertion = false; message = "tier-probe-hm"; } ]; }',
         "crs58 profile: tier-probe-hm"),
        # Package-dependent: the stand-in's fzf carries nixpkgs' version, so home-manager's
        # version check evaluates truthfully (fzf < 0.73 has no nushell integration).
        ("{ lib, ... }: { home-manager.users.raquel.programs.fzf.enableNushellIntegration = lib.mkForce true; }",
         "raquel profile: fzf package version must be 0.73.0 or greater for nushell integration"),
        # Package names: home-manager's tmux module checks nixpkgs' "tmuxplugin-" pname.
        ("{ pkgs, ... }: { home-manager.users.crs58.programs.tmux.plugins = [ (pkgs.hello // { pname = \"hello\"; }) ]; }",
         'crs58 profile: Invalid tmux plugin (not prefixed with "tmuxplugins"): hello'),
    ],
)
def test_the_tier_fails_on_a_failed_assertion(module, expected):
    host = HOSTS[0]
    result = check(host, f"[ ({module}) ]")
    assert expected in failures(result)


def test_the_tier_lists_warnings():
    result = check(HOSTS[0], '[ { warnings = [ "tier-probe-warning" ]; } ]')
    assert unjustified(result["warnings"]) == ["tier-probe-warning"]


def test_the_tier_sees_deprecation_warnings():
    """Reading the deprecated clan.core.clanPkgs (what @fleet/zerotier used to do) is caught."""
    module = ('[ ({ config, ... }: { assertions = [ { assertion = builtins.seq config.clan.core.clanPkgs true; '
              'message = "probe"; } ]; }) ]')
    result = check(HOSTS[0], module)
    assert any("clanPkgs' is deprecated" in w for w in result["evalWarnings"]) or \
        any("clan.core.clanPkgs" in w for w in result["evalWarnings"]), result["evalWarnings"]


def test_an_unbuildable_store_is_an_error_not_a_pass(tmp_path):
    """Without vars the configuration does not evaluate: the tier errors, naming clan's fix."""
    apply = f"import {HARNESS} {{ stubPkgs = {STUB}; varsStore = {tmp_path}; }}"
    with pytest.raises(subprocess.CalledProcessError) as err:
        nixsupport.nix_eval(f"darwinConfigurations.{HOSTS[0]}", apply=apply, extra=("--impure",))
    assert "clan vars generate" in err.value.stderr


def test_the_fixture_is_the_test_identity():
    assert (STORE / "IDENTITY").read_text().startswith("fleet-ci-fixture\n")
    assert os.path.isdir(STORE / "vars" / "shared")


@pytest.mark.parametrize("host", HOSTS)
def test_darwin_host_key_survives_reboot_and_is_never_generated_by_nix_darwin(host):
    """nix-darwin generates a missing host key in its `openssh` activation phase, before
    sops-nix installs /run/secrets (postActivation), and /run is emptied at boot; the key
    therefore lives in clan's persistent activation upload directory."""
    apply = (f"c: let e = c.extendModules {{ modules = [ ({{ lib, ... }}: {{ _module.args.pkgs = lib.mkForce "
             f"(import {STUB} {{ inherit lib; }}); clan.core.settings.directory = lib.mkForce {STORE}; }}) ]; }}; "
             "in map (k: k.path) e.config.services.openssh.hostKeys")
    paths = nixsupport.nix_eval(f"darwinConfigurations.{host}", apply=apply, extra=("--impure",))
    assert paths and all(p.startswith("/var/lib/sops-nix/activation/") for p in paths), paths
    assert not any(p.startswith("/run/") for p in paths)


def test_every_darwin_host_lists_its_users_explicitly():
    host_users = nixsupport.nix_eval("fleet.hostUsers")
    assert sorted(host_users) == HOSTS
    for host in HOSTS:
        assert sorted(checked(host)["homeManager"]) == sorted(host_users[host]), host


def test_a_host_without_a_users_fact_fails_with_the_fix():
    """modules/darwin/home-manager.nix alone, with no hostUsers entry for the machine."""
    aspect = ("let flake = c._module.specialArgs.self; in (import (flake + \"/modules/darwin/home-manager.nix\") "
              "{ inherit (flake) inputs; lib = flake.inputs.nixpkgs.lib; config.flake = { fleet = { users = { }; "
              "hostUsers = { }; }; modules.homeManager.default = { }; }; }).flake.modules.darwin.home-manager "
              "{ config.clan.core.settings.machine.name = \"newhost\"; }")
    with pytest.raises(subprocess.CalledProcessError) as err:
        nixsupport.nix_eval(f"darwinConfigurations.{HOSTS[0]}", apply=f"c: builtins.attrNames ({aspect}).home-manager.users")
    assert ("darwin host newhost: expected flake.fleet.hostUsers.newhost (its users) in "
            "modules/machines/darwin/newhost.nix, found none") in " ".join(err.value.stderr.split())


@pytest.mark.parametrize("host", HOSTS)
def test_every_vars_value_a_darwin_build_reads_evaluates(host):
    """What `just build-darwin <host>` reads from the vars store, forced with the fixture:
    the certificate, the known-hosts keys, the mesh network ids and addresses, the
    sops secret files."""
    apply = (f"c: let e = c.extendModules {{ modules = [ ({{ lib, ... }}: {{ _module.args.pkgs = lib.mkForce "
             f"(import {STUB} {{ inherit lib; }}); clan.core.settings.directory = lib.mkForce {STORE}; }}) ]; }}; "
             "cfg = e.config; in { sshd = cfg.services.openssh.extraConfig; "
             "known = builtins.mapAttrs (_: k: k.publicKey) cfg.programs.ssh.knownHosts; "
             "zt = cfg.launchd.daemons.fleet-zerotier.script; hosts = cfg.environment.etc.\"hosts.fleet\".text; "
             "sops = builtins.mapAttrs (_: s: toString s.sopsFile) cfg.sops.secrets; }")
    got = nixsupport.nix_eval(f"darwinConfigurations.{host}", apply=apply, extra=("--impure",))
    network_id = (STORE / "vars/shared/zerotier-network-zerotier/network-id/value").read_text().strip()
    assert f"join '{network_id}'" in got["zt"] or f"join {network_id}" in got["zt"]
    assert "HostCertificate " in got["sshd"]
    own_pub = (STORE / f"vars/per-machine/{host}/openssh/ssh.id_ed25519.pub/value").read_text().strip()
    assert got["known"]["clan-sshd-self-ed25519"].strip() == own_pub
    assert f" {host}.fleet {host}" in got["hosts"]
    assert any(name.endswith(f"zerotier-identity-{host}/identity-secret") for name in got["sops"]), got["sops"]


@pytest.mark.parametrize("host", HOSTS)
def test_missing_user_secrets_are_a_warning_not_hidden(host):
    """validateSopsFiles = false must not hide that the encrypted user files are not in
    the repository: every user whose sops files are missing is warned, naming them."""
    users = nixsupport.nix_eval("fleet.users")
    for user, res in checked(host)["homeManager"].items():
        ident = users[user]["sopsIdentifier"]
        found = [w for w in res["warnings"] if "sops user secrets missing" in w]
        assert len(found) == 1, f"{host}: {user}: no warning about its missing sops files: {res['warnings']}"
        assert f"secrets/users/{ident}/signing-key.yaml" in found[0] and "secrets/README.md" in found[0]


def test_the_user_secrets_warning_names_only_what_is_missing():
    """A secret whose sopsFile exists drops out of the warning (the check reads the files)."""
    module = ("{ lib, ... }: { home-manager.users.crs58.sops.secrets.glm-api-key.sopsFile = "
              f"lib.mkForce {STORE}/IDENTITY; }}")
    result = check(HOSTS[0], f"[ ({module}) ]")
    [warning] = [w for w in result["homeManager"]["crs58"]["warnings"] if "sops user secrets missing" in w]
    assert "llm-api-keys.yaml" not in warning
    assert "mcp-api-keys.yaml" in warning
