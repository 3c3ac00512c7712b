"""The CI vars fixture covers every generator the machines declare (regenerate it with
tests/nix/vars-fixture/generate.py when this fails), and it is only a test identity."""
from __future__ import annotations

import importlib.util
import json

import pytest
from support import nix as nixsupport

REPO = nixsupport.REPO
FIXTURE = REPO / "tests" / "nix" / "vars-fixture"
STORE = FIXTURE / "store"

pytestmark = [pytest.mark.nix, pytest.mark.slow]


def _generate_module():
    spec = importlib.util.spec_from_file_location("fixture_generate", FIXTURE / "generate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_declared_generator_file_is_in_the_fixture():
    declarations = _generate_module().declarations()
    missing = []
    for machine, gens in declarations.items():
        for name, decl in gens.items():
            rel = f"shared/{name}" if decl["share"] else f"per-machine/{machine}/{name}"
            for fname, meta in decl["files"].items():
                path = STORE / "vars" / rel / fname / ("secret" if meta["secret"] else "value")
                if not path.exists():
                    missing.append(str(path.relative_to(REPO)))
    assert missing == [], ("the CI vars fixture lacks generated files; regenerate it: "
                           "python3 tests/nix/vars-fixture/generate.py (see its README)")


def test_fixture_secrets_are_sops_encrypted_and_machine_keys_declared():
    secrets = list(STORE.rglob("secret"))
    assert secrets
    for path in secrets:
        doc = json.loads(path.read_text())
        assert "sops" in doc and doc["sops"]["age"], f"{path} is not sops-encrypted to an age key"
    for machine in nixsupport.inventory():
        key = json.loads((STORE / "sops" / "machines" / machine / "key.json").read_text())
        assert key[0]["type"] == "age" and key[0]["publickey"].startswith("age1")


def test_the_fixture_is_nowhere_in_the_production_store():
    """`just ci-vars` stages copies in CI only; a committed copy would deploy the test identity.
    The real store (clan vars generate) lives at the same paths, so compare contents."""
    copied = []
    for path in STORE.rglob("*"):
        rel = path.relative_to(STORE)
        real = REPO / rel
        if path.is_file() and not path.is_symlink() and real.is_file() and real.read_bytes() == path.read_bytes():
            copied.append(str(rel))
    assert copied == [], f"files of the test identity fleet-ci-fixture are in the production vars store: {copied[:5]}"


def test_emergency_access_hash_is_in_the_fixture_for_every_member():
    """clan-core's emergency-access reads password-hash's value at evaluation
    (boot.initrd.systemd.emergencyAccess), so a server's toplevel throws
    `Please run clan vars generate` without it: every member needs a crypt hash."""
    members = [m for m, roles in nixsupport.nix_eval("fleet.serviceRoles").items() if "emergency-access" in roles]
    assert members
    for machine in members:
        value = STORE / "vars/per-machine" / machine / "emergency-access/password-hash/value"
        assert value.exists(), f"{machine}: no emergency-access hash in the fixture"
        assert value.read_text().startswith("$y$"), f"{machine}: {value} is not a yescrypt hash"
