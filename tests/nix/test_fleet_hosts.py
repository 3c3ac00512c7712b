"""`<machine>.fleet` names: derived from the inventory (zerotier members), clan's
domain and the mesh addresses in the vars store; nothing written by hand."""
from __future__ import annotations

import shutil

import pytest
from support import nix as nixsupport

REPO = nixsupport.REPO
HARNESS = REPO / "tests" / "nix" / "assertions.nix"
STUB = REPO / "tests" / "nix" / "stub-pkgs"
STORE = REPO / "tests" / "nix" / "vars-fixture" / "store"

pytestmark = [pytest.mark.nix, pytest.mark.slow]


def members() -> list[str]:
    roles = nixsupport.nix_eval("fleet.serviceRoles")
    return sorted(m for m, r in roles.items() if "zerotier" in r)


def expected_lines(store) -> list[str]:
    domain = nixsupport.nix_eval("fleet.domain")
    return [f"{(store / 'vars/shared' / f'zerotier-ip-{m}-zerotier/ip/value').read_text().strip()} {m}.{domain} {m}"
            for m in members()]


def darwin(host: str, expr: str, store=STORE):
    apply = (f"c: let e = c.extendModules {{ modules = [ ({{ lib, ... }}: {{ _module.args.pkgs = lib.mkForce "
             f"(import {STUB} {{ inherit lib; }}); clan.core.settings.directory = lib.mkForce {store}; }}) ]; }}; "
             f"in e.config.{expr}")
    return nixsupport.nix_eval(f"darwinConfigurations.{host}", apply=apply, extra=("--impure",))


def test_every_mesh_member_gets_its_vars_address_on_darwin():
    text = darwin("blackphos", 'environment.etc."hosts.fleet".text')
    assert text.splitlines() == expected_lines(STORE)
    assert len(text.splitlines()) == len(nixsupport.inventory())  # every machine is a peer


def test_darwin_activation_keeps_one_marked_block_of_etc_hosts():
    script = darwin("blackphos", "system.activationScripts.postActivation.text")
    assert "cat /etc/hosts.fleet" in script and "# end fleet mesh names" in script


def test_controller_snippet_names_the_missing_vars_before_they_exist():
    text = nixsupport.nix_eval("fleet.hostsFile")
    if not (REPO / "vars" / "shared").exists():
        for m in members():
            assert f"# {m}.fleet: no mesh address yet (vars/shared/zerotier-ip-{m}-zerotier/ip/value); " \
                   f"run `clan vars generate {m}`" in text


def test_a_member_without_an_address_fails_the_build(tmp_path):
    store = tmp_path / "store"
    shutil.copytree(STORE, store, symlinks=True)
    shutil.rmtree(store / "vars/shared/zerotier-ip-galena-zerotier")
    apply = f"import {HARNESS} {{ stubPkgs = {STUB}; varsStore = {store}; }}"
    result = nixsupport.nix_eval("darwinConfigurations.rosegold", apply=apply, extra=("--impure",))
    assert ("fleet-hosts: galena.fleet has no mesh address: expected "
            "vars/shared/zerotier-ip-galena-zerotier/ip/value in the vars store, found none; "
            "run `clan vars generate galena`") in result["failedAssertions"]
