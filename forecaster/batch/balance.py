"""Shards of even cost, planned once: ``forecaster batch jobs.toml --plan-shards N`` deals the jobs over N shards
by the seconds each took in today's summaries, dearest first, each to the shard with the least so far; every shard
given ``--shard K/N --shard-plan FILE`` runs the jobs the plan gives it, and a job the plan does not name (a glob's
new file, a job added since) by its name's hash, as without a plan.

Made once and read by every shard, the plan cannot differ between them,
wherever and whenever they start: a split that each shard worked out from
the summaries it found would change as the night's shards write theirs.
"""

from __future__ import annotations

import json
import math
import statistics
from collections.abc import Mapping
from pathlib import Path

from forecaster.errors import BadInput


def recorded_seconds(summaries: list[Path]) -> dict[str, float]:
    """Each job's seconds in ``summaries`` (oldest first: a later record of a job replaces an earlier one); a file
    that is not a summary is passed over."""
    seconds: dict[str, float] = {}
    for path in summaries:
        try:
            entries = json.loads(path.read_text(encoding="utf-8"))["jobs"]
            found = {entry["name"]: float(entry["seconds"]) for entry in entries if entry.get("seconds")}
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            continue
        seconds |= {name: value for name, value in found.items() if math.isfinite(value) and value > 0}
    return seconds


def deal(names: list[str], shares: int, costs: Mapping[str, float]) -> dict[str, int]:
    """Each job's shard (1 to ``shares``) for shards of even total cost; a job without a cost costs the median of
    the others' (all alike: dealt in turn by name)."""
    known = [costs[name] for name in names if name in costs]
    usual = statistics.median(known) if known else 1.0
    loads = [0.0] * shares
    shard_of = {}
    for name in sorted(names, key=lambda name: (-costs.get(name, usual), name)):
        lightest = min(range(shares), key=lambda shard: (loads[shard], shard))
        shard_of[name] = lightest + 1
        loads[lightest] += costs.get(name, usual)
    return shard_of


def read_plan(path: Path, shares: int) -> dict[str, int]:
    """A plan --plan-shards wrote, for ``shares`` shards: job name -> shard; refused in one line otherwise."""
    try:
        document = json.loads(Path(path).read_text(encoding="utf-8"))
        planned, jobs = document["shards"], document["jobs"]
        valid = isinstance(planned, int) and isinstance(jobs, dict)
        valid = valid and all(isinstance(shard, int) and 1 <= shard <= planned for shard in jobs.values())
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise BadInput(f"--shard-plan {path}: not a plan --plan-shards wrote ({exc})") from None
    if not valid:
        raise BadInput(f"--shard-plan {path}: not a plan --plan-shards wrote")
    if planned != shares:
        raise BadInput(f"--shard-plan {path}: a plan for {planned} shards, not the {shares} of --shard; plan again")
    return {str(name): shard for name, shard in jobs.items()}
