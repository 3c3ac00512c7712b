"""The suite keeps its children's shared stdin blocking (tests/conftest.py, tests/support/stdio.py)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from support import stdio

ANSIBLE_PLAYBOOK = Path(sys.executable).with_name("ansible-playbook")


def test_a_non_blocking_stdin_is_what_makes_ansible_refuse_and_make_blocking_restores_it():
    read, write = os.pipe()
    try:
        os.set_blocking(read, False)
        refused = subprocess.run([str(ANSIBLE_PLAYBOOK), "--version"], stdin=read, capture_output=True, text=True,
                                 timeout=120, check=False)
        assert refused.returncode != 0
        assert "Ansible requires blocking IO on stdin/stdout/stderr" in refused.stderr
        assert stdio.make_blocking(read) is True and os.get_blocking(read)
        assert stdio.make_blocking(read) is False
        started = subprocess.run([str(ANSIBLE_PLAYBOOK), "--version"], stdin=read, capture_output=True, text=True,
                                 timeout=120, check=False)
        assert started.returncode == 0, started.stderr
    finally:
        os.close(read)
        os.close(write)


def test_a_child_that_left_stdin_non_blocking_is_undone_before_the_next_test_part_one():
    # Part one leaves the suite's shared stdin as ssh can leave it ...
    os.set_blocking(0, False)


def test_a_child_that_left_stdin_non_blocking_is_undone_before_the_next_test_part_two():
    # ... and the autouse fixture in tests/conftest.py has undone it before this test.
    assert os.get_blocking(0)
