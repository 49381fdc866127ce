"""Bounded input (issue 23): a file is measured before it is parsed, and refused at the first limit it passes.

The bombs are real compressed files: one compressed block of a mebibyte,
repeated (gzip, bzip2, xz and zstd read concatenated streams as one; a zip
member is deflated whole), so that writing a gigabyte-sized bomb costs
milliseconds and reading it costs what the reader makes it cost.
"""

from __future__ import annotations

import bz2
import gzip
import json
import lzma
import os
import subprocess
import sys
import tracemalloc
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conftest import DATA, assert_clean_error, invoke, jobs_file, run
from forecaster import api
from forecaster.data import limits
from forecaster.data.limits import Limits
from forecaster.data.table import load_csv
from forecaster.errors import BadInput, shown

if sys.version_info >= (3, 14):
    from compression import zstd
else:
    from backports import zstd

MIB = 2**20
COMPRESSORS = {"gz": gzip.compress, "bz2": bz2.compress, "xz": lzma.compress, "zst": zstd.compress}


def bomb(directory: Path, kind: str, header: bytes, block: bytes, repeats: int) -> Path:
    """``header`` then ``block`` ``repeats`` times, compressed as ``kind``."""
    path = directory / f"{kind}-{len(block) * repeats}.csv.{kind}"
    if kind == "zip":  # deflated for real: an eighth of the size, still beyond every limit
        repeats //= 8
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive, archive.open("data.csv", "w") as member:
            member.write(header)
            for _ in range(repeats):
                member.write(block)
        return path
    compress = COMPRESSORS[kind]
    packed = compress(block)
    with open(path, "wb") as out:
        out.write(compress(header))
        for _ in range(repeats):
            out.write(packed)
    return path


#: a gigabyte of short rows: 1.9 MB as gzip in the issue, whose fit was still reading after 3 minutes
ROWS = (b"date,value\n", b"2020-01-01,1\n" * (MIB // 13), 1024)
#: one cell of a gigabyte: exit 2 in the issue, but after 14.6 s and 2.0 GB resident
CELL = (b"date,value\n2020-01-01,", b"9" * MIB, 1024)
KINDS = [*COMPRESSORS, "zip"]
#: for a fresh process's script: its peak resident memory in KiB, VmHWM, this process image's own (ru_maxrss would
#: count the pytest worker it was forked from)
PEAK_KIB = "def peak_kib(): return int([l for l in open('/proc/self/status') if l.startswith('VmHWM')][0].split()[1])\n"


@pytest.fixture(scope="module")
def bombs(tmp_path_factory) -> dict[str, Path]:
    directory = tmp_path_factory.mktemp("bombs")
    made = {}
    for kind in KINDS:
        made[f"rows.{kind}"] = bomb(directory, kind, *ROWS)
        made[f"cell.{kind}"] = bomb(directory, kind, *CELL)
    made["columns"] = directory / "columns.csv"
    made["columns"].write_bytes(b"date" + b",a" * 150_000 + b"\n2020-01-01" + b",1" * 150_000 + b"\n")
    return made


def test_every_bomb_is_refused_with_its_limit_in_little_memory_and_time(bombs):
    """In a fresh process, each bomb read as fit reads it: refused naming the file and the limit; the process's
    peak memory stays far below what any bomb inflates to (about 1 GiB each)."""
    script = PEAK_KIB + (
        "import json, sys, time\n"
        "from forecaster.data.table import load_csv\n"
        "from forecaster.errors import BadInput\n"
        "said = {}\n"
        "for path in sys.argv[1:]:\n"
        "    started = time.monotonic()\n"
        "    try:\n"
        "        load_csv(path)\n"
        "        said[path] = ['read', 0]\n"
        "    except BadInput as exc:\n"
        "        said[path] = [str(exc), time.monotonic() - started]\n"
        "print(json.dumps([said, peak_kib()]))\n"
    )
    paths = [str(path) for path in bombs.values()]
    result = subprocess.run([sys.executable, "-c", script, *paths], capture_output=True, text=True, check=True)
    said, peak_kib = json.loads(result.stdout)
    for name, path in bombs.items():
        message, seconds = said[str(path)]
        expected = {"rows": "beyond the limit ratio=100", "cell": "beyond the limit line_bytes=1,048,576"}.get(
            name.split(".")[0], "its header has more than 100,000 columns, beyond the limit columns=100,000"
        )
        assert message.startswith(f"{path}: ") and expected in message, (name, message)
        assert "--limit" in message and seconds < 20, (name, seconds)
    assert "times the file's" in said[str(bombs["rows.gz"])][0]
    assert peak_kib < 400 * 1024, f"peak {peak_kib / 1024:.0f} MiB"


def test_the_command_refuses_a_bomb_in_one_line_and_writes_nothing(bombs, tmp_path):
    result = run("fit", bombs["cell.gz"], "--members", 1, "--out", tmp_path / "m")
    assert_clean_error(result, str(bombs["cell.gz"]), "line 2 is longer than 1,048,576 bytes", "--limit line_bytes=N")
    assert not (tmp_path / "m").exists()


def test_a_normal_file_is_read_and_limits_move_both_ways(tmp_path):
    """A constant series of 1.5 million rows: 3 MB that gzip keeps in a few KB, beyond the ratio but within its floor,
    is read; a lowered limit refuses it, a raised one reads it again."""
    path = tmp_path / "constant.csv.gz"
    path.write_bytes(gzip.compress(b"value\n" + b"1\n" * 1_500_000))
    assert os.path.getsize(path) * 100 < 3 * 10**6
    assert load_csv(path).values.shape == (1_500_000, 1)
    with limits.applied(Limits(rows=1_000_000)), pytest.raises(BadInput, match="more than 1,000,000 rows"):
        load_csv(path)
    with limits.applied(Limits(input_bytes=MIB)), pytest.raises(BadInput, match="more than 1,048,576 bytes once"):
        load_csv(path)
    with limits.applied(Limits(rows=2_000_000)):
        assert load_csv(path).values.shape == (1_500_000, 1)


def test_a_long_file_costs_about_its_numbers_not_its_text(tmp_path):
    """500 series of 1,000 days, one row per value (12 MB): read a chunk of rows at a time, numbers kept as numbers
    and ids and dates as categories, the read's peak stays within a small multiple of the table it makes (4 MB). Held
    as text, its three cells a row took 101 MiB."""
    days = pd.date_range("2020-01-01", periods=1000, freq="D").strftime("%Y-%m-%d")
    long = pd.DataFrame(
        {
            "id": np.repeat([f"s{k:03d}" for k in range(500)], len(days)),
            "date": np.tile(days, 500),
            "value": np.random.default_rng(0).normal(100, 10, 500 * len(days)).round(3),
        }
    )
    long.to_csv(tmp_path / "long.csv", index=False)
    script = PEAK_KIB + (
        "import json, sys\n"
        "from forecaster.data.table import load_csv\n"
        "before = peak_kib()\n"
        "table = load_csv(sys.argv[1], id_col='id', value_col='value')\n"
        "print(json.dumps([(peak_kib() - before) * 1024, table.values.to_numpy().nbytes, table.values.shape]))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script, tmp_path / "long.csv"], capture_output=True, text=True, check=True
    )
    grown, numbers, shape = json.loads(result.stdout)
    assert shape == [1000, 500]
    assert grown < 15 * numbers, f"reading took {grown / MIB:.0f} MiB for a table of {numbers / MIB:.0f} MiB"


def test_each_door_takes_limits(tmp_path):
    """--limit on the command line, the jobs file's limits table and the Python keyword, each checked."""
    assert_clean_error(
        invoke("backtest", DATA / "airline.csv", "--limit", "rows=100"),
        "airline.csv: more than 100 rows, beyond the limit rows=100",
    )
    assert_clean_error(invoke("fit", DATA / "airline.csv", "--limit", "rows"), "--limit takes NAME=VALUE")
    assert_clean_error(invoke("fit", DATA / "airline.csv", "--limit", "lines=5"), "no limit is called 'lines'")
    with pytest.raises(BadInput, match="more than 100 rows"):
        api.fit(DATA / "airline.csv", limits={"rows": 100})
    with pytest.raises(BadInput, match="limit input_bytes must be a whole number of at least 1"):
        api.fit(DATA / "airline.csv", limits={"input_bytes": "a lot"})
    assert Limits.parse(["input_bytes=20GB", "line-bytes=2MiB", "rows=5e7"]) == Limits(
        input_bytes=20 * 10**9, line_bytes=2 * MIB, rows=50_000_000
    )
    job = {"name": "airline", "input": str(DATA / "airline.csv"), "model": "m", "output": "o.csv", "epochs": 1}
    bad = jobs_file(tmp_path, {**job, "limits": {"row": 5}})
    assert_clean_error(invoke("batch", bad), "job 'airline'", "key 'limits'", "no limit is called 'row'")
    small = jobs_file(tmp_path, {**job, "limits": {"rows": 100}})
    result = invoke("batch", small)
    assert result.returncode == 1 and "more than 100 rows, beyond the limit rows=100" in result.stderr
    assert not (tmp_path / "o.csv").exists()


def test_the_last_row_without_a_line_feed_counts_and_limits_read_whole_numbers(tmp_path):
    path = tmp_path / "three.csv"
    path.write_text("a\n1\n2\n3")
    with limits.applied(Limits(rows=2)), pytest.raises(BadInput, match="more than 2 rows"):
        load_csv(path)
    assert Limits.parse(["rows=9223372036854775807"]).rows == 2**63 - 1
    for value in (10**400, "1e400", "inf", 0, 2.5):
        with pytest.raises(BadInput, match="limit rows must be a whole number of at least 1"):
            Limits.of({"rows": value}, "limits=")


def test_a_small_compressed_file_is_refused_by_the_ratio_s_floor_and_said_so(tmp_path):
    path = tmp_path / "small.csv.gz"
    path.write_bytes(gzip.compress(b"a\n" + b"123456789\n" * (7 * MIB)))  # 73 MB of 7 million rows
    with limits.applied(Limits(ratio=2)), pytest.raises(BadInput) as refused:
        load_csv(path)
    assert f"the 67,108,864 bytes any file may inflate to, more than 2 times its {path.stat().st_size:,}" in str(
        refused.value
    )


def test_a_row_wider_than_the_header_is_refused_not_made_an_index(tmp_path):
    """pandas would take a first row wider than the header as an index column: a ragged row of 200,000 fields under
    a one-column header cost 43 s and 1.3 GB before it was read, its fields dropped without a word."""
    path = tmp_path / "ragged.csv"
    path.write_text("a\n" + ",".join(["1"] * 20_000) + "\n")
    with pytest.raises(BadInput, match=r"ragged.csv: a row holds more fields than the header names \(1\)"):
        load_csv(path)


#: each limit, a file exactly at it, and the same file one unit past it (a row, a byte, a column)
BOUNDARIES = {
    "rows": (Limits(rows=3), "a\n1\n2\n3\n", "a\n1\n2\n3\n4\n"),
    "rows, the last without a line feed": (Limits(rows=3), "a\n1\n2\n3", "a\n1\n2\n3\n4"),
    "columns": (Limits(columns=3), "a,b,c\n1,2,3\n", "a,b,c,d\n1,2,3,4\n"),
    "line_bytes": (Limits(line_bytes=8), "a\n12345678\n", "a\n123456789\n"),
    "input_bytes": (Limits(input_bytes=10), "a\n1\n2\n3\n4\n", "a\n1\n2\n3\n4\n5"),
}


@pytest.mark.parametrize("case", BOUNDARIES)
def test_a_file_exactly_at_a_limit_is_read_and_one_past_it_refused(case, tmp_path):
    """Each limit is the most a file may hold: at it, read; one row, byte or column past it, refused naming it."""
    limit, at, past = BOUNDARIES[case]
    name = case.split(",")[0]
    assert len(at.encode()) <= limit.input_bytes
    for text, refused in ((at, False), (past, True)):
        path = tmp_path / "edge.csv"
        path.write_text(text)
        with limits.applied(limit):
            if refused:
                with pytest.raises(BadInput, match=f"beyond the limit {name}="):
                    limits.measure(path, str(path), ",")
            else:
                limits.measure(path, str(path), ",")


def test_every_python_door_that_reads_a_file_honours_limits(tiny_model, tmp_path):
    """limits= reaches each read: a model.json one byte over its limit is refused and one at it loaded, and a CSV
    one row past ``rows`` is refused by fit, backtest, forecast and predict alike, naming the limit."""
    size = (tiny_model / "model.json").stat().st_size
    with pytest.raises(BadInput, match=f"{size:,} bytes, beyond the limit model_json_bytes={size - 1:,}"):
        api.load(tiny_model, limits={"model_json_bytes": size - 1})
    model = api.load(tiny_model, limits={"model_json_bytes": size})
    recent = tmp_path / "recent.csv"
    recent.write_text((DATA / "statquest.csv").read_text())  # a header and 5 rows
    refused = {"rows": 4}
    for door in (
        lambda: model.predict(recent=recent, limits=refused),
        lambda: model.forecast(recent=recent, limits=refused),
        lambda: api.fit(recent, window=2, horizon=1, epochs=1, limits=refused),
        lambda: api.backtest(recent, window=2, horizon=1, epochs=1, folds=1, limits=refused),
    ):
        with pytest.raises(BadInput, match="more than 4 rows, beyond the limit rows=4"):
            door()
    assert len(model.predict(recent=recent, limits={"rows": 5})) == 1  # at the limit: read


def refusal(path, limit: Limits) -> str:
    with limits.applied(limit), pytest.raises(BadInput) as refused:
        limits.measure(path, "the feed", ",")
    return str(refused.value)


HOW = "(raise it with --limit {0}=N, a jobs file's limits table or the keyword limits=)"


def test_each_refusal_names_the_file_what_it_holds_and_the_limit_exactly(tmp_path):
    path = tmp_path / "f.csv"
    path.write_text("a,b,c\n1,2,3\n12345,6,7\n1,2,3\n")
    assert refusal(path, Limits(columns=2)) == (
        f"the feed: its header has more than 2 columns, beyond the limit columns=2 {HOW.format('columns')}"
    )
    assert refusal(path, Limits(rows=2)) == f"the feed: more than 2 rows, beyond the limit rows=2 {HOW.format('rows')}"
    assert refusal(path, Limits(line_bytes=8)) == (
        f"the feed: line 3 is longer than 8 bytes, beyond the limit line_bytes=8 {HOW.format('line_bytes')}"
    )
    assert refusal(path, Limits(input_bytes=20)) == (
        f"the feed: more than 20 bytes, beyond the limit input_bytes=20 {HOW.format('input_bytes')}"
    )
    path.write_text("a,b,c\n1,2,3\n1,2,3\n1,2,3")  # the last row without a line feed
    assert refusal(path, Limits(rows=2)) == f"the feed: more than 2 rows, beyond the limit rows=2 {HOW.format('rows')}"
    path.write_text("a\n1\n123456789")  # the last line, longest, without a line feed
    assert refusal(path, Limits(line_bytes=8)).startswith("the feed: line 3 is longer than 8 bytes, beyond the limit")
    with limits.applied(Limits(line_bytes=9)):
        limits.measure(path, "the feed", ",")  # nine bytes: at the limit, read


def test_lines_and_headers_across_chunks_are_measured_whole(tmp_path):
    """A chunk is a mebibyte: a header, a long line and many short lines that cross chunk boundaries are counted
    as the lines they are, numbered as the file numbers them."""
    path = tmp_path / "long.csv"
    header = ",".join(f"c{k}" for k in range(200_000))  # 1.3 MB of header: it spans two chunks
    path.write_text(header + "\n" + "1\n" * 10)
    assert "its header has more than 150,000 columns" in refusal(path, Limits(columns=150_000, line_bytes=2**21))
    with limits.applied(Limits(columns=200_000, line_bytes=2**21)):
        limits.measure(path, "the feed", ",")
    path.write_text("a\n" + "1\n" * 3 + "x" * (3 * 2**20) + "\n" + "1\n" * 2)  # line 5: three chunks long
    assert refusal(path, Limits(line_bytes=2**21)).startswith(f"the feed: line 5 is longer than {2**21:,} bytes")
    path.write_text("a\n" + "1\n" * 700_000 + "y" * 101 + "\n")  # line 700,002 of 101 bytes, in the second chunk
    assert refusal(path, Limits(line_bytes=100)).startswith("the feed: line 700,002 is longer than 100 bytes")


def test_a_compressed_feed_is_bounded_by_its_ratio_above_the_floor(tmp_path):
    """Beyond RATIO_FLOOR, a compressed file may inflate to ratio times its size, and the refusal says so."""
    path = tmp_path / "f.csv.gz"
    path.write_bytes(gzip.compress(b"a\n" + b"1\n" * (40 * MIB)))  # 80 MiB of rows, a few hundred KB compressed
    size = path.stat().st_size
    assert refusal(path, Limits(ratio=1000, rows=10**9)).startswith(
        f"the feed: more than {1000 * size:,} bytes once decompressed: 1000 times the file's {size:,}, beyond the "
        "limit ratio=1,000"
    )
    assert refusal(path, Limits(ratio=2, input_bytes=2**40, rows=10**9)).startswith(
        f"the feed: more than {limits.RATIO_FLOOR:,} bytes once decompressed: the {limits.RATIO_FLOOR:,} bytes any "
        f"file may inflate to, more than 2 times its {size:,}, beyond the limit ratio=2"
    )
    assert refusal(path, Limits(input_bytes=2**20, rows=10**9)).startswith(
        f"the feed: more than {2**20:,} bytes once decompressed, beyond the limit input_bytes="
    )


@pytest.mark.parametrize(
    "given, expected",
    [
        ({"rows": 1}, 1),
        ({"rows": 2**63 - 1}, 2**63 - 1),
        ({"rows": "1_000"}, 1000),
        ({"rows": "9_007_199_254_740_993"}, 2**53 + 1),  # read as written, not through a float
        ({"rows": "2MiB"}, 2 * 2**20),
        ({"rows": "5e7"}, 50_000_000),
        ({"line-bytes": 7}, None),
    ],
)
def test_a_limit_is_a_whole_number_from_1_below_2_to_the_63(given, expected):
    read = Limits.of(given, "limits=")
    assert read.rows == expected if expected is not None else read.line_bytes == 7


@pytest.mark.parametrize("value", [0, 2**63, "2**63", True, "1.5", "12 parsecs", [], float("inf")])
def test_a_limit_that_is_not_such_a_number_is_refused_naming_it(value):
    with pytest.raises(BadInput) as refused:
        Limits.of({"rows": value}, "limits=")
    assert str(refused.value) == (
        "limits=: limit rows must be a whole number of at least 1 (a size may say KB, MB, GB, MiB, GiB), "
        f"not {shown(value)}"
    )


def test_the_doors_name_themselves_in_a_refusal():
    names = "input_bytes, ratio, line_bytes, rows, columns, model_json_bytes, memory"
    with pytest.raises(BadInput, match=rf"^--limit: no limit is called 'lines'; the limits are {names}$"):
        Limits.parse(["lines=5"])
    with pytest.raises(BadInput, match=r"^--limit takes NAME=VALUE, such as rows=50000000, not 'rows'$"):
        Limits.parse(["rows"])
    with pytest.raises(BadInput, match=r"^--limit: limit rows must be a whole number .* not 'a=b'$"):
        Limits.parse(["rows=a=b"])
    with pytest.raises(BadInput, match=r"^limits= must be a table of limits such as \{rows = 50000000\}, not 7$"):
        limits.within(7).__enter__()
    with pytest.raises(BadInput, match=r"^limits=: limit rows must be a whole number"):
        limits.within({"rows": 0}).__enter__()
    with limits.applied(Limits(rows=5)), limits.within({"columns": 3}) as inner:
        assert (inner.rows, inner.columns) == (5, 3)  # within adds to the limits in force


def test_lines_that_end_at_or_cross_a_chunk_boundary_are_measured_as_the_file_has_them(tmp_path):
    """A header of exactly one chunk, its line feed the next chunk's first byte; a line split across two chunks,
    shorter than the limit in each, longer in all; and a header whose first name is empty."""
    chunk = limits.CHUNK
    path = tmp_path / "edge.csv"
    header = ("c," * (chunk // 2))[: chunk - 1] + "z"  # chunk bytes, chunk // 2 columns
    content = header.encode() + b"\n" + b"1,2,3\n" * (chunk // 6 + 100)
    assert b"," in content[2 * chunk :].split(b"\n")[0]  # a third chunk starts inside a row, a comma before its end
    path.write_bytes(content)
    with limits.applied(Limits(line_bytes=chunk, columns=chunk // 2)):
        limits.measure(path, "the feed", ",")  # its rows' commas are not the header's, in the second chunk or after
    path.write_bytes(b"a\n" + b"x" * (chunk - 10) + b"\n" + b"y" * (chunk // 2) + b"\n")
    assert refusal(path, Limits(line_bytes=chunk // 2 + 5)).startswith("the feed: line 2 is longer than")
    crossing = (
        b"a\n" + b"1\n" * ((chunk - 2) // 2 - 1000) + b"z" * 3000 + b"\n"
    )  # line 2: 3,000 bytes over the boundary
    path.write_bytes(crossing)
    number = crossing.count(b"\n")
    assert refusal(path, Limits(line_bytes=2500)).startswith(f"the feed: line {number:,} is longer than 2,500 bytes")
    path.write_text(",b,c\n1,2,3\n")  # an unnamed first column, as pandas writes an index
    assert "its header has more than 2 columns" in refusal(path, Limits(columns=2))


def test_a_header_s_comma_that_ends_its_first_chunk_is_a_column(tmp_path):
    """A header longer than a chunk, the chunk's last byte a comma: the columns counted are the header's, to the
    byte."""
    chunk = limits.CHUNK
    path = tmp_path / "wide.csv"
    header = "c," * (chunk // 2) + "z"  # chunk // 2 + 1 columns
    assert header[chunk - 1] == ","
    path.write_bytes(header.encode() + b"\n1\n")
    assert refusal(path, Limits(line_bytes=2 * chunk, columns=chunk // 2)) == (
        f"the feed: its header has more than {chunk // 2:,} columns, beyond the limit columns={chunk // 2:,} "
        f"{HOW.format('columns')}"
    )
    with limits.applied(Limits(line_bytes=2 * chunk, columns=chunk // 2 + 1)):
        limits.measure(path, "the feed", ",")


def test_at_a_compressed_file_s_ties_the_refusal_names_the_bound_as_it_is_set(tmp_path):
    """Where ratio times the file's size is RATIO_FLOOR exactly, the refusal gives the ratio's figure, not the
    floor's; where it is input_bytes exactly too, input_bytes is named: the ratio is named only when it is the
    stricter."""
    size = 2**17
    packed = gzip.compress(b"a\n") + gzip.compress(b"1\n" * (MIB // 2)) * 66  # 66 MiB of rows, a stream a MiB
    path = tmp_path / "f.csv.gz"
    path.write_bytes(packed + b"\0" * (size - len(packed)))  # gzip reads past zeros at the end
    ratio = limits.RATIO_FLOOR // size
    assert ratio * size == limits.RATIO_FLOOR
    assert refusal(path, Limits(ratio=ratio, rows=10**9)).startswith(
        f"the feed: more than {ratio * size:,} bytes once decompressed: {ratio} times the file's {size:,}, beyond "
        f"the limit ratio={ratio}"
    )
    assert refusal(path, Limits(ratio=ratio, input_bytes=ratio * size, rows=10**9)).startswith(
        f"the feed: more than {ratio * size:,} bytes once decompressed, beyond the limit input_bytes={ratio * size:,}"
    )


def test_a_file_is_measured_in_the_memory_of_a_chunk_not_of_the_file(tmp_path):
    """Python's allocations while a file of 32 chunks is measured peak at a few chunks: it is read a chunk at a
    time, never whole."""
    path = tmp_path / "long.csv"
    path.write_bytes(b"a\n" + b"1\n" * (16 * limits.CHUNK))
    tracemalloc.start()
    try:
        limits.measure(path, "the feed", ",")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 4 * limits.CHUNK, f"peak {peak:,} bytes"


MEMORY = "ask for less (another limit: --limit memory=N, a jobs file's limits table or the keyword limits=)"


def test_memory_is_bounded_by_what_the_process_may_take_or_by_the_limit_memory_when_given():
    """Without the limit memory, an estimate is held to what the machine says this process may still take; with it,
    to the limit alone, more or less than the machine's. At the bound, allowed; a byte past it, refused."""

    def machine() -> int:
        return 1000

    limits.within_memory(1000, "--horizon 9", machine)
    with pytest.raises(BadInput) as refused:
        limits.within_memory(1001, "--horizon 9", machine)
    assert str(refused.value) == (
        "--horizon 9: would take about 1,001 bytes, beyond the 1,000 this process may still take (available memory, "
        f"its cgroup and RLIMIT_AS); {MEMORY}"
    )
    with limits.applied(Limits(memory=2000)):
        limits.within_memory(2000, "--horizon 9", machine)
        with pytest.raises(BadInput) as refused:
            limits.within_memory(2001, "--horizon 9", machine)
    assert str(refused.value) == f"--horizon 9: would take about 2,001 bytes, beyond the limit memory=2,000; {MEMORY}"
    with limits.applied(Limits(memory=500)), pytest.raises(BadInput, match="beyond the limit memory=500;"):
        limits.within_memory(501, "--horizon 9", machine)


def test_a_compressed_file_within_its_ratio_is_still_held_to_input_bytes(tmp_path):
    path = tmp_path / "f.csv.gz"
    path.write_bytes(gzip.compress(b"a\n" + b"1\n" * (40 * MIB)))
    size = path.stat().st_size
    budget = limits.RATIO_FLOOR + MIB  # above the floor, below ratio times the file
    assert 1000 * size > budget
    assert refusal(path, Limits(ratio=1000, input_bytes=budget, rows=10**9)).startswith(
        f"the feed: more than {budget:,} bytes once decompressed, beyond the limit input_bytes="
    )


DOOR = PEAK_KIB + (
    "import json, sys\n"
    "from forecaster.cli import main\n"
    "sys.argv = ['forecaster', *sys.argv[1:]]\n"
    "try:\n"
    "    main()\n"
    "except SystemExit as exc:\n"
    "    code = exc.code\n"
    "heavy = [name for name in ('pandas', 'torch', 'forecaster.model.trained') if name in sys.modules]\n"
    "print(json.dumps([code, heavy, peak_kib()]))\n"
)


@pytest.mark.parametrize(
    "command",
    [("fit", "{bomb}", "--out", "{tmp}/m"), ("predict", "{tmp}/no-model", "--csv", "{bomb}"), ("backtest", "{bomb}")],
    ids=["fit", "predict", "backtest"],
)
def test_each_command_refuses_a_bomb_before_it_loads_a_model_or_pandas(command, bombs, tmp_path):
    """The CSV's limits are its cheapest check: predict refuses a bomb as fast and as small as fit, before it looks for
    its model (here there is none), and no door imports pandas or torch, nor loads a model, to refuse one."""
    args = [part.format(bomb=bombs["cell.gz"], tmp=tmp_path) for part in command]
    result = subprocess.run([sys.executable, "-c", DOOR, *args], capture_output=True, text=True, check=True)
    code, heavy, peak_kib = json.loads(result.stdout)
    assert code == 2 and heavy == [], (code, heavy)
    assert result.stderr.startswith(f"forecaster: error: {bombs['cell.gz']}: line 2 is longer than"), result.stderr
    assert peak_kib < 80 * 1024, f"peak {peak_kib / 1024:.0f} MiB"
    assert not (tmp_path / "m").exists()


def test_a_batch_job_s_bomb_fails_before_the_run_imports_torch(bombs, tmp_path):
    """The batch door too: a job whose input is a bomb fails in the run's own process on the CSV's limits, before the
    run imports what its jobs' processes would need; with no other job, torch is never imported (pandas is: the jobs
    file's reader reads model cards)."""
    jobs = tmp_path / "jobs.toml"
    jobs.write_text(
        f'summary = "summary.json"\n[[job]]\nname = "bomb"\ninput = "{bombs["cell.gz"]}"\n'
        'model = "models/bomb"\noutput = "out/bomb.csv"\nhorizon = 3\n'
    )
    result = subprocess.run([sys.executable, "-c", DOOR, "batch", jobs], capture_output=True, text=True, check=True)
    code, heavy, peak_kib = json.loads(result.stdout)
    assert code == 1 and "torch" not in heavy, (code, heavy)
    (job,) = json.loads((tmp_path / "summary.json").read_text())["jobs"]
    error = job["error"]
    assert error.startswith(f"{bombs['cell.gz']}: line 2 is longer than"), error
    assert peak_kib < 160 * 1024, f"peak {peak_kib / 1024:.0f} MiB"  # pandas imported: far below the bomb's 1 GiB


def test_a_file_checked_by_its_door_is_measured_once(tmp_path, monkeypatch):
    """predict checks its --csv before the model and reads it after: one measure, unless the file or the limits
    changed meanwhile."""
    path = tmp_path / "recent.csv"
    path.write_text((DATA / "statquest.csv").read_text())
    passes = []
    monkeypatch.setattr(limits, "_read_through", lambda *args: passes.append(args))
    load_csv(path), load_csv(path)
    assert len(passes) == 1
    with limits.applied(Limits(rows=100)):
        load_csv(path)
    path.write_text((DATA / "statquest.csv").read_text() + "\n")
    load_csv(path)
    assert len(passes) == 3


def test_whatever_fit_writes_predict_reads_and_a_file_too_wide_for_a_card_is_refused_before_training(tmp_path):
    """card_bytes estimates model.json (names escaped as JSON escapes them): a file whose estimate passes
    model_json_bytes is refused before training; one whose card passes it anyway (numbers of 24 characters, longer
    than the estimate's) is refused at the save, nothing written; a card within it is read by predict within it."""
    from forecaster.training.pipeline import card_bytes

    rng = np.random.default_rng(3)
    names = [f"série-{k}-\u2603" for k in range(60)]
    frame = pd.DataFrame(rng.normal(0, 1e-300, (40, len(names))) + 1e-290, columns=names)  # 24-character numbers
    frame.insert(0, "date", pd.date_range("2024-01-01", periods=40, freq="D").strftime("%Y-%m-%d"))
    frame.to_csv(tmp_path / "wide.csv", index=False)
    fast = ("--members", 1, "--epochs", 1, "--hidden-size", 2, "--window", 14, "--horizon", 3)
    estimate = card_bytes(names, 14, 7, 3, {})

    def fit(out, limit):
        return invoke(
            "fit", tmp_path / "wide.csv", "--out", tmp_path / out, *fast, "--limit", f"model_json_bytes={limit}"
        )

    assert_clean_error(
        fit("n", estimate - 1),
        f"{tmp_path / 'wide.csv'}: its 60 series would make a model.json of about {estimate:,} bytes, which predict "
        f"could not read, beyond the limit model_json_bytes={estimate - 1:,}",
    )
    assert not (tmp_path / "n").exists()
    refused = fit("n", estimate)
    assert_clean_error(refused, f"{tmp_path / 'n' / 'model.json'}: a model.json of ", "which predict could not read")
    assert f"was not written, beyond the limit model_json_bytes={estimate:,}" in refused.stderr
    assert not (tmp_path / "n").exists() and sorted(path.name for path in tmp_path.iterdir()) == ["wide.csv"]
    assert fit("m", 2**26).returncode == 0
    written = (tmp_path / "m" / "model.json").stat().st_size
    assert estimate < written < 2.5 * estimate, (written, estimate)
    assert invoke("predict", tmp_path / "m", "--limit", f"model_json_bytes={written}").returncode == 0
