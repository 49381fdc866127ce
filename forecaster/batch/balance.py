"""Shards of even cost, planned once: ``forecaster batch jobs.toml --plan-shards N`` deals the jobs over N shards
by the seconds each took in today's summaries, dearest first, each to the shard with the least so far; every shard
given ``--shard K/N --shard-plan FILE`` runs the jobs the plan gives it, and a job the plan does not name (a glob's
new file, a job added since) by its name's hash, as without a plan.

Made once and read by every shard, the plan cannot differ between them,
wherever and whenever they start: a split that each shard worked out from
the summaries it found would change as the night's shards write theirs.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Mapping
from pathlib import Path

from forecaster.batch.summary import SUMMARY_BYTES
from forecaster.errors import BadInput
from forecaster.model import jsonread

#: the plan's format: 1 since it says so (plans written before then are read as 1)
FORMAT_VERSION = 1
#: how much of a plan is read, and how deep: it writes 2 levels (jobs.<name>)
PLAN_BYTES = SUMMARY_BYTES
PLAN_DEPTH = 4


def recorded_seconds(summaries: Iterable[dict]) -> dict[str, float]:
    """Each job's seconds in its newest successful record in ``summaries`` (as summary.read_summary reads them, oldest
    first); a record that is not a success's is passed over."""
    seconds: dict[str, float] = {}
    for summary in summaries:
        for entry in summary["jobs"]:
            cost = _cost(entry)
            if cost is not None:
                seconds[entry["name"]] = cost
    return seconds


def _cost(entry: object) -> float | None:
    """A job's seconds in a successful record; None for a failed job's (its seconds say nothing of its cost), or a
    record that is not a summary's."""
    if not isinstance(entry, dict) or entry.get("status") != "ok" or not isinstance(entry.get("name"), str):
        return None
    taken = entry.get("seconds")
    if isinstance(taken, bool) or not isinstance(taken, (int, float)):
        return None
    try:
        value = float(taken)
    except OverflowError:
        return None
    return value if math.isfinite(value) and value > 0 else None


def costs_of(names: list[str], seconds: Mapping[str, float]) -> dict[str, float]:
    """Each job's cost: its recorded seconds, else the median of the others' (all alike when none is recorded)."""
    known = [seconds[name] for name in names if name in seconds]
    usual = statistics.median(known) if known else 1.0
    return {name: seconds.get(name, usual) for name in names}


def deal(costs: Mapping[str, float], shares: int) -> dict[str, int]:
    """Each job's shard (1 to ``shares``): dearest first, each to the shard with the least so far (ties by name)."""
    loads = [0.0] * shares
    shard_of = {}
    for name in sorted(costs, key=lambda name: (-costs[name], name)):
        lightest = min(range(shares), key=lambda shard: (loads[shard], shard))
        shard_of[name] = lightest + 1
        loads[lightest] += costs[name]
    return shard_of


def read_plan(path: Path, shares: int) -> dict[str, int]:
    """A plan --plan-shards wrote, for ``shares`` shards: job name -> shard; refused in one line otherwise."""
    if not Path(path).exists():
        raise BadInput(f"--shard-plan {path}: no such file")
    try:
        document = jsonread.record(Path(path), "shard plan", FORMAT_VERSION, PLAN_BYTES, PLAN_DEPTH)
    except BadInput as exc:
        raise BadInput(f"--shard-plan {exc}") from None
    planned, jobs = document.get("shards"), document.get("jobs")

    def whole(value: object) -> bool:
        return isinstance(value, int) and not isinstance(value, bool)

    if not (whole(planned) and isinstance(jobs, dict) and all(whole(shard) for shard in jobs.values())):
        raise BadInput(f"--shard-plan {path}: not a plan --plan-shards wrote (its shards and jobs)")
    if planned != shares:
        raise BadInput(f"--shard-plan {path}: a plan for {planned} shards, not the {shares} of --shard; plan again")
    if not all(1 <= shard <= planned for shard in jobs.values()):
        raise BadInput(f"--shard-plan {path}: a job's shard is not one of 1 to {planned}")
    return {str(name): shard for name, shard in jobs.items()}
