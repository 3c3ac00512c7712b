"""The standard streams the suite's children inherit."""
from __future__ import annotations

import os


def make_blocking(fd: int) -> bool:
    """Clear O_NONBLOCK on fd; True when it was set (a child left it so)."""
    if os.get_blocking(fd):
        return False
    os.set_blocking(fd, True)
    return True
