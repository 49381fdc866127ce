"""Shards of even cost: each job dealt by what it took in the last run that recorded it.

A job's cost is its seconds in the summaries of the newest earlier date
(every shard's, a rerun's record replacing the first); a job without one
costs the median of those known, all of them alike on a first run. The jobs
are dealt dearest first, each to the shard with the least cost so far (ties
by name and by shard number), so that every shard, started on any machine at
any time of the day, deals the same from the same jobs file: today's
summaries, which a shard that finished first may have written, are not read.
"""

from __future__ import annotations

import datetime
import json
import statistics
from collections.abc import Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from forecaster.batch.retention import Dated


def past_costs(summaries: Dated | None, today: datetime.date) -> dict[str, float]:
    """Each job's seconds in the summaries of the newest date before ``today``; none without dated summaries."""
    if summaries is None:
        return {}
    earlier = [(date.date(), path) for date, path in summaries.files() if date.date() < today]
    if not earlier:
        return {}
    newest = max(date for date, _ in earlier)
    paths = sorted((path for date, path in earlier if date == newest), key=lambda path: path.stat().st_mtime_ns)
    costs: dict[str, float] = {}
    for path in paths:  # oldest first: a rerun's record of a job replaces the first run's
        try:
            entries = json.loads(path.read_text(encoding="utf-8"))["jobs"]
            costs |= {entry["name"]: float(entry["seconds"]) for entry in entries if entry.get("seconds")}
        except (OSError, ValueError, KeyError, TypeError):
            continue  # a damaged summary balances nothing; the run itself says nothing of it
    return costs


def deal(names: list[str], shares: int, costs: Mapping[str, float]) -> list[int]:
    """The shard (0 to ``shares`` - 1) of each of the jobs ``names``, for ``shares`` shards of even total cost."""
    known = [costs[name] for name in names if name in costs]
    usual = statistics.median(known) if known else 1.0
    cost = [costs.get(name, usual) for name in names]
    loads = [0.0] * shares
    shard_of = [0] * len(names)
    for place in sorted(range(len(names)), key=lambda place: (-cost[place], names[place])):
        lightest = min(range(shares), key=lambda shard: (loads[shard], shard))
        shard_of[place] = lightest
        loads[lightest] += cost[place]
    return shard_of
