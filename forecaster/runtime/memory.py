"""How many bytes this process may still take: what the machine has available, within its cgroup's limit and its own
address-space limit (RLIMIT_AS), each where the system says it.

Asked before something large is allocated (a network a model directory
plans, a forecast of many steps, a network to train), so that a size that
cannot fit is refused in words, with its estimate, rather than ending in a
MemoryError or the kernel's OOM killer half-way through.
"""

from __future__ import annotations

import contextlib
import resource
from pathlib import Path

#: what is assumed when the system says nothing (no /proc, no cgroup, no limit)
UNKNOWN = 2**63 - 1


def available() -> int:
    """The fewest bytes any of the machine's available memory, the cgroup's limit and RLIMIT_AS leaves this process."""
    rooms = [_machine(), _cgroup(), _address_space()]
    return min([room for room in rooms if room is not None], default=UNKNOWN)


def _kilobytes(path: str, key: str) -> int | None:
    """A ``key: N kB`` line's bytes from a /proc file."""
    with contextlib.suppress(OSError, ValueError):
        for line in Path(path).read_text().splitlines():
            if line.startswith(f"{key}:"):
                return int(line.split()[1]) * 1024
    return None


def _machine() -> int | None:
    return _kilobytes("/proc/meminfo", "MemAvailable")


def _cgroup() -> int | None:
    """The cgroup's limit less what it uses: cgroup v2's memory.max, or v1's memory.limit_in_bytes."""
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/self/cgroup").read_text().splitlines():
            _, controllers, path = line.split(":", 2)
            if controllers == "":
                found = _room(Path("/sys/fs/cgroup", path.lstrip("/")), "memory.max", "memory.current")
            elif "memory" in controllers.split(","):
                found = _room(
                    Path("/sys/fs/cgroup/memory", path.lstrip("/")), "memory.limit_in_bytes", "memory.usage_in_bytes"
                )
            else:
                continue
            if found is not None:
                return found
    return None


def _room(directory: Path, limit: str, usage: str) -> int | None:
    with contextlib.suppress(OSError, ValueError):
        most = (directory / limit).read_text().strip()
        if most != "max" and int(most) < UNKNOWN // 2:  # v1 writes "no limit" as a huge number
            return max(int(most) - int((directory / usage).read_text()), 0)
    return None


def _address_space() -> int | None:
    most, _ = resource.getrlimit(resource.RLIMIT_AS)
    if most == resource.RLIM_INFINITY:
        return None
    return max(most - (_kilobytes("/proc/self/status", "VmSize") or 0), 0)
