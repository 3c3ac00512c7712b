"""Whether a process the test started has ended."""
from __future__ import annotations

import time
from pathlib import Path


def running(pid: int) -> bool:
    """Running now; a zombie counts as ended (PID 1 here reaps orphans late)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False
    return state != "Z"


def gone(pid: int, wait: float = 10.0) -> bool:
    """The process ends within ``wait`` seconds."""
    deadline = time.monotonic() + wait
    while running(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True
