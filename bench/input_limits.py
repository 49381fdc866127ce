"""What reading a file costs: peak memory and seconds of a fresh process that reads it as fit does, for a normal long
file of 1,000,000 rows and for the two bombs of issue 23.

    .venv/bin/python bench/input_limits.py

Files (written to a temporary folder):
- long-1M.csv: 1,000 series of 1,000 days, a long file (id, date, value): a real user's large feed;
- long-1M.csv.gz: the same, compressed;
- wide-20k.csv: 20,000 series of 200 days side by side, a column each (4,000,000 cells);
- rows-bomb.csv.gz: a gigabyte of short rows in about a megabyte (concatenated gzip members);
- cell-bomb.csv.gz: one cell of a gigabyte, the same way.
Each is read by `forecaster.data.table.load_csv` in a fresh interpreter; the
table's numbers (series x times, float64) are given beside the peak.
Prints a markdown table.
"""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

MIB = 2**20
READ = (
    "import json, sys, time\n"
    "from forecaster.data.table import load_csv\n"
    "from forecaster.errors import BadInput\n"
    "started = time.perf_counter()\n"
    "try:\n"
    "    table = load_csv(sys.argv[1], id_col=sys.argv[2] or None, value_col=sys.argv[3] or None)\n"
    "    said, numbers = 'read', table.values.to_numpy().nbytes\n"
    "except BadInput as exc:\n"
    "    said, numbers = str(exc), 0\n"
    "peak = [line for line in open('/proc/self/status') if line.startswith('VmHWM')][0].split()[1]\n"
    "print(json.dumps([said, numbers, time.perf_counter() - started, int(peak)]))\n"
)


def files(directory: Path) -> dict[str, tuple[Path, str, str]]:
    rng = np.random.default_rng(0)
    days = pd.date_range("2020-01-01", periods=1000, freq="D")
    frame = pd.DataFrame(
        {
            "id": np.repeat([f"s{k:04d}" for k in range(1000)], len(days)),
            "date": np.tile(days.strftime("%Y-%m-%d"), 1000),
            "value": rng.normal(100, 10, 1000 * len(days)).round(3),
        }
    )
    plain = directory / "long-1M.csv"
    frame.to_csv(plain, index=False)
    packed = directory / "long-1M.csv.gz"
    packed.write_bytes(gzip.compress(plain.read_bytes()))
    wide = directory / "wide-20k.csv"
    pd.DataFrame(
        rng.normal(100, 10, (200, 20_000)).round(3),
        index=pd.Index(days[:200].strftime("%Y-%m-%d"), name="date"),
        columns=[f"s{k:05d}" for k in range(20_000)],
    ).to_csv(wide)
    made = {
        "long file, 1,000,000 rows": (plain, "id", "value"),
        "the same, gzip": (packed, "id", "value"),
        "wide file, 20,000 series of 200 days": (wide, "", ""),
    }
    for name, header, block in [
        ("rows-bomb", b"date,value\n", b"2020-01-01,1\n" * (MIB // 13)),
        ("cell-bomb", b"date,value\n2020-01-01,", b"9" * MIB),
    ]:
        path = directory / f"{name}.csv.gz"
        member = gzip.compress(block)
        with open(path, "wb") as out:
            out.write(gzip.compress(header))
            for _ in range(1024):
                out.write(member)
        made[f"{name} (a GiB inflated)"] = (path, "", "")
    return made


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        lines = [
            "| file | on disk (MB) | outcome | table's numbers (MB) | seconds | peak RSS (MiB) |",
            "|---|---:|---|---:|---:|---:|",
        ]
        for name, (path, id_col, value_col) in files(Path(folder)).items():
            result = subprocess.run(
                [sys.executable, "-c", READ, str(path), id_col, value_col], capture_output=True, text=True, check=True
            )
            said, numbers, seconds, peak_kib = json.loads(result.stdout)
            outcome = "read" if said == "read" else said.split(": ", 1)[1].split(" (raise")[0]
            lines.append(
                f"| {name} | {path.stat().st_size / 1e6:.1f} | {outcome} | {numbers / 1e6:.1f} | {seconds:.1f} | "
                f"{peak_kib / 1024:.0f} |"
            )
        print("\n".join(lines))


if __name__ == "__main__":
    main()
