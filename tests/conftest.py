import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
# Let tests import the collection as ansible_collections.fleet.migration.
sys.path.insert(0, str(REPO / ".collections"))

from support import nix as nixsupport  # noqa: E402
from support import stdio  # noqa: E402

sys.path.insert(0, str(REPO / "tests" / "rehearsal"))
import background  # noqa: E402

REHEARSAL = pytest.StashKey[background.Run]()


@pytest.fixture(autouse=True)
def _blocking_stdin():
    """Each test starts with a blocking stdin.

    Every child a test starts inherits one stdin (pytest's /dev/null), and a child that
    sets it non-blocking (ssh does) and ends without restoring it would make every later
    ansible-playbook refuse: "Ansible requires blocking IO on stdin/stdout/stderr"."""
    stdio.make_blocking(0)


def pytest_collection_modifyitems(config, items):
    if not nixsupport.have_nix():
        skip = pytest.mark.skip(reason="nix is not on PATH: run scripts/setup")
        for item in items:
            if "nix" in item.keywords:
                item.add_marker(skip)
    background.order_last(items)


def pytest_collection_finish(session):
    """Start the full rehearsal now when its tests are selected: it runs beside the rest of the suite."""
    if session.config.option.collectonly or not background.selected(session.items) or background.why_not():
        return
    if not nixsupport.have_nix():
        return
    # Under pytest's base temporary directory (kept for the last few sessions, like tmp_path).
    factory = getattr(session.config, "_tmp_path_factory", None)
    state = factory.mktemp("rehearsal") if factory is not None else None
    session.config.stash[REHEARSAL] = background.Run(state).start()


def pytest_sessionfinish(session):
    run = session.config.stash.get(REHEARSAL, None)
    if run is not None:
        run.stop()


@pytest.fixture(scope="session")
def rehearsal_run(pytestconfig) -> background.Run | None:
    """The rehearsal started when collection ended (None when it was not started)."""
    return pytestconfig.stash.get(REHEARSAL, None)


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO
