import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
# Let tests import the collection as ansible_collections.fleet.migration.
sys.path.insert(0, str(REPO / ".collections"))

from support import nix as nixsupport  # noqa: E402


def pytest_collection_modifyitems(config, items):
    if not nixsupport.have_nix():
        skip = pytest.mark.skip(reason="nix is not on PATH: run scripts/setup")
        for item in items:
            if "nix" in item.keywords:
                item.add_marker(skip)


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO
