"""Whether a process lives, and a child that ends with the process it works for.

A temporary file's writer, a fit watched by its member workers and a batch
run watched by its jobs are all told apart from the dead here, the same way.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import threading
import time
from pathlib import Path

PR_SET_PDEATHSIG = 1  #: from <linux/prctl.h>
#: the process a child started as a new program ends with (see :func:`end_with_named`), for a parent to set
END_WITH_VARIABLE = "FORECASTER_END_WITH"
#: how often a child whose watched process is not its parent looks for it
WATCH_SECONDS = 0.5


def alive(pid: int) -> bool:
    """Whether process ``pid`` exists and has not died (a zombie, dead but not yet reaped, has)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    except (OSError, IndexError):  # no /proc: whether a signal could reach it
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    return state != "Z"


def end_with(pid: int) -> None:
    """End this process (exit 1, nothing cleaned up) as soon as process ``pid`` is gone, however it went: killed
    with SIGKILL, it could not say so.

    When ``pid`` is this process's parent, Linux does it (PR_SET_PDEATHSIG);
    otherwise (a member worker, whose parent is the fork server) a thread
    looks for ``pid`` every WATCH_SECONDS.
    """
    if pid == os.getppid() and sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != pid:  # it died before the request took effect
            os._exit(1)
        return
    threading.Thread(target=_end_without, args=(pid,), daemon=True).start()


def end_with_named() -> None:
    """:func:`end_with` the process that END_WITH_VARIABLE names, if it names one: for a child started as a new
    program, which is handed no pid but its environment (the members' fork server, whose imports of Lightning would
    otherwise outlive an interrupted fit by 25 to 80 s on a busy machine). Its own children do not inherit it."""
    pid = os.environ.pop(END_WITH_VARIABLE, None)
    if pid is not None:
        end_with(int(pid))


def _end_without(pid: int) -> None:
    while True:
        if not alive(pid):
            os._exit(1)
        time.sleep(WATCH_SECONDS)


#: where Lightning's launcher, torchrun, SLURM, MPI (Open MPI, MPICH) and LSF's jsrun put a process's rank
RANK_VARIABLES = (
    "RANK",
    "LOCAL_RANK",
    "NODE_RANK",
    "SLURM_PROCID",
    "OMPI_COMM_WORLD_RANK",
    "PMI_RANK",
    "JSM_NAMESPACE_RANK",
)


def launched_rank() -> int:
    """The rank this process was started as by a launcher of a distributed fit (the environment variables they set,
    as Lightning's cluster environments read them); 0 for a process started by hand."""
    for variable in RANK_VARIABLES:
        value = os.environ.get(variable, "0")
        if value.isdigit() and int(value) > 0:
            return int(value)
    return 0
