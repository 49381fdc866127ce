"""How many threads torch computes with: one, for models this small, unless OMP_NUM_THREADS says otherwise."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator


@contextlib.contextmanager
def one_thread() -> Iterator[None]:
    """Run torch on one intra-op thread, unless OMP_NUM_THREADS says otherwise.

    The models are small (hidden 32 by default): a kernel lasts microseconds
    and sharing it between threads costs more in synchronisation than it
    saves: on an idle machine two threads gain nothing at the default size
    (bench/performance.md, "Threads"). On a machine whose cores are busy (a
    shared server, batch runs from cron) torch's default of one thread per
    core is far worse: the waiting threads spin, and a batch job took ten
    times as long (bench/batch.md). Training, forecasting and every batch
    job's process run under it.
    """
    import torch

    if "OMP_NUM_THREADS" in os.environ:
        yield
        return
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    # for Lightning's DDP launcher, which would give each process its share of the cores, and the processes it starts
    os.environ["OMP_NUM_THREADS"] = "1"
    try:
        yield
    finally:
        del os.environ["OMP_NUM_THREADS"]
        torch.set_num_threads(previous)
