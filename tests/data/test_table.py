"""Reading and validating CSV files (load_csv)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from forecaster.data.cells import CHUNK_ROWS
from forecaster.data.table import load_csv, load_frame, missing_times
from forecaster.errors import BadInput

DATA = Path(__file__).resolve().parents[2] / "data"


@pytest.fixture
def write_csv(tmp_path):
    """Write ``text`` to a CSV file in tmp_path and return its path."""

    def write(text: str, name: str = "series.csv") -> Path:
        path = tmp_path / name
        path.write_text(text)
        return path

    return write


def csv_text(header: str, rows) -> str:
    return "\n".join([header, *(",".join(map(str, row)) for row in rows)]) + "\n"


def daily_rows(count: int, *columns):
    dates = pd.date_range("2024-01-01", periods=count, freq="D")
    return [(date.date().isoformat(), *(column[k] for column in columns)) for k, date in enumerate(dates)]


# --- the time column ---


@pytest.mark.parametrize(
    "header, time_column, times, index",
    [
        ("date,a,b", "date", [f"2024-01-0{k}" for k in range(1, 5)], list(pd.date_range("2024-01-01", periods=4))),
        # found by name in any position and any case: whole numbers would otherwise be a series
        ("a,Day,b", "Day", [1, 2, 3, 4], [1, 2, 3, 4]),
        # not a known name: found by its ISO dates
        (
            "when,a,b",
            "when",
            [f"2024-01-0{k}T12:00" for k in range(1, 5)],
            list(pd.date_range("2024-01-01 12:00", periods=4)),
        ),
    ],
    ids=["by-name", "by-name-any-case", "by-content"],
)
def test_time_column_is_detected(write_csv, header, time_column, times, index):
    names = header.split(",")
    rows = [{"a": k, "b": 10 * k, time_column: time} for k, time in enumerate(times, start=1)]
    path = write_csv(csv_text(header, [[row[name] for name in names] for row in rows]))

    table = load_csv(path)
    assert table.time_column == time_column
    assert table.columns == ["a", "b"]
    assert list(table.values.index) == index
    assert table.values["b"].tolist() == [10.0, 20.0, 30.0, 40.0]


def test_date_col_chooses_the_time_column(write_csv):
    path = write_csv(csv_text("recorded,a", [("2024-01-02", 1), ("2024-01-03", 2)]))
    assert load_csv(path, date_col="recorded").time_column == "recorded"


def test_date_col_naming_a_missing_column_is_bad_input(write_csv):
    path = write_csv(csv_text("date,a", daily_rows(3, [1, 2, 3])))
    with pytest.raises(BadInput) as error:
        load_csv(path, date_col="stamp")
    assert str(path) in str(error.value)
    assert "'stamp'" in str(error.value)


def test_no_time_column_uses_row_order(write_csv):
    path = write_csv(csv_text("a,b", [(5, 1), (3, 2), (4, 3)]))
    table = load_csv(path)
    assert (table.time_column, table.time_kind, table.frequency) == (None, "row", "1")
    assert table.values["a"].tolist() == [5.0, 3.0, 4.0]  # not sorted: the file's order is the time
    assert table.future_times(2) == [4, 5]


@pytest.mark.parametrize(
    "times, frequency, future",
    [
        ([1, 2, 3, 4], "1", [5, 6]),
        ([7, 14, 21, 28], "7", [35, 42]),
    ],
)
def test_integer_time_column(write_csv, times, frequency, future):
    path = write_csv(csv_text("day,company_a,company_b", [(t, 0.5 * k, 1.0) for k, t in enumerate(times)]))
    table = load_csv(path)
    assert (table.time_column, table.time_kind, table.frequency) == ("day", "integer", frequency)
    assert table.columns == ["company_a", "company_b"]
    assert table.future_times(2) == future
    assert table.last_time == str(times[-1])


def test_rows_are_sorted_by_time(write_csv):
    rows = daily_rows(5, [10, 11, 12, 13, 14])
    path = write_csv(csv_text("date,a", [rows[k] for k in (3, 0, 4, 2, 1)]))
    table = load_csv(path)
    assert table.values.index.is_monotonic_increasing
    assert table.values["a"].tolist() == [10.0, 11.0, 12.0, 13.0, 14.0]
    assert table.last_time == "2024-01-05T00:00:00"


def test_duplicated_timestamp_is_bad_input(write_csv):
    path = write_csv(csv_text("date,a", [("2024-01-01", 1), ("2024-01-02", 2), ("2024-01-01", 3)]))
    with pytest.raises(BadInput, match=r"duplicated timestamp .*lines 2, 4"):
        load_csv(path)


# --- choosing the series ---


def test_targets_select_columns_in_the_given_order(write_csv):
    path = write_csv(csv_text("date,a,b,c", daily_rows(3, [1, 2, 3], [4, 5, 6], [7, 8, 9])))
    table = load_csv(path, targets=("c", "a"))
    assert table.columns == ["c", "a"]
    assert table.values["c"].tolist() == [7.0, 8.0, 9.0]


@pytest.mark.parametrize("target, words", [("z", ["no column 'z'"]), ("date", ["'date'", "time column"])])
def test_bad_target_is_bad_input(write_csv, target, words):
    path = write_csv(csv_text("date,a", daily_rows(3, [1, 2, 3])))
    with pytest.raises(BadInput) as error:
        load_csv(path, targets=(target,))
    assert str(path) in str(error.value)
    for word in words:
        assert word in str(error.value)


def test_text_columns_are_labels_not_series(write_csv):
    path = write_csv(csv_text("date,name,a", daily_rows(3, ["x", "y", "z"], [1, 2, 3])))
    assert load_csv(path).columns == ["a"]


def test_semicolon_delimiter_is_detected(write_csv):
    path = write_csv("date;a;b\n2024-01-01;1.5;2\n2024-01-02;2.5;3\n2024-01-03;3.5;4\n")
    table = load_csv(path)
    assert table.columns == ["a", "b"]
    assert table.values["a"].tolist() == [1.5, 2.5, 3.5]


# --- frequencies and the future ---


@pytest.mark.parametrize(
    "dates, frequency, future",
    [
        (pd.date_range("2024-01-01", periods=10, freq="D"), "D", ["2024-01-11", "2024-01-12"]),
        (pd.date_range("2023-01-01", periods=6, freq="MS"), "MS", ["2023-07-01", "2023-08-01"]),
        # weekdays Mon 1 Jan .. Fri 19 Jan 2024, with Monday 8 Jan a holiday: Friday is followed by Monday
        (pd.bdate_range("2024-01-01", "2024-01-19").delete(5), "B", ["2024-01-22", "2024-01-23"]),
    ],
    ids=["daily", "month-start", "business-days"],
)
def test_frequency_is_inferred_and_continued(write_csv, dates, frequency, future):
    path = write_csv(csv_text("date,a", [(d.date().isoformat(), k) for k, d in enumerate(dates)]))
    table = load_csv(path)
    assert table.frequency == frequency
    assert table.future_times(2) == [pd.Timestamp(day) for day in future]


# --- missing values ---


def test_a_series_may_start_late(write_csv):
    path = write_csv(csv_text("date,a,b", daily_rows(5, [1, 2, 3, 4, 5], ["", "", 30, 40, 50])))
    values = load_csv(path).values
    assert values["b"].isna().tolist() == [True, True, False, False, False]
    assert values["b"].iloc[2:].tolist() == [30.0, 40.0, 50.0]


def test_an_internal_gap_names_the_column_and_the_file_line(write_csv):
    """The file is out of order: the gap is reported at its line in the file, not in sorted order."""
    path = write_csv(
        csv_text(
            "date,a,b",
            [
                ("2024-01-03", 3, ""),  # line 2: b is missing after its first value (1 Jan)
                ("2024-01-01", 1, 5),
                ("2024-01-02", 2, 6),
                ("2024-01-04", 4, 7),
            ],
        )
    )
    with pytest.raises(BadInput) as error:
        load_csv(path)
    message = str(error.value)
    assert str(path) in message
    assert "'b'" in message
    assert "lines 2)" in message


def test_text_in_a_numeric_column_names_the_line(write_csv):
    path = write_csv(csv_text("date,a", daily_rows(3, [1, "oops", 3])))
    with pytest.raises(BadInput) as error:
        load_csv(path)
    assert str(error.value) == f"{path}: line 3: 'oops' in column 'a' is not a number"


# --- files that are not usable at all ---


def write_bytes(data: bytes):
    def make(tmp_path: Path) -> Path:
        path = tmp_path / "input.csv"
        path.write_bytes(data)
        return path

    return make


@pytest.mark.parametrize(
    "make_path, fragment",
    [
        (write_bytes(b""), "is empty"),
        (write_bytes(b"\n\n"), "is empty"),
        (write_bytes(b"date,a\n"), "has a header but no data rows"),
        (write_bytes(b"date,name\n2024-01-01,x\n2024-01-02,y\n"), "no numeric column"),
        (write_bytes(b"date,a\n2024-01-01,\xff\xfe\n"), "not UTF-8"),
        (lambda tmp_path: tmp_path / "missing.csv", "no such file"),
        (lambda tmp_path: tmp_path, "is a directory"),
    ],
    ids=["empty", "blank-lines", "header-only", "no-numeric-column", "not-utf8", "missing", "directory"],
)
def test_unusable_file_is_bad_input_naming_the_file(tmp_path, make_path, fragment):
    path = make_path(tmp_path)
    with pytest.raises(BadInput) as error:
        load_csv(path)
    assert str(error.value).startswith(f"{path}: ")
    assert fragment in str(error.value)


# --- windows ---


def test_stock_csv():
    table = load_csv(DATA / "stock.csv")
    assert table.columns == ["AAPL", "GOOG", "IBM", "MSFT"]
    assert (table.time_column, table.time_kind, table.frequency) == ("date", "datetime", "B")
    first = table.values.notna().idxmax()
    assert first["GOOG"] > table.values.index[0]
    assert (first.drop("GOOG") == table.values.index[0]).all()
    assert table.values.index.is_monotonic_increasing


def test_statquest_csv():
    table = load_csv(DATA / "statquest.csv")
    assert (table.time_column, table.time_kind, table.frequency) == ("day", "integer", "1")
    assert table.columns == ["company_a", "company_b"]
    assert table.values["company_a"].iloc[:4].tolist() == [0.0, 0.5, 0.25, 1.0]


def test_absent_rows_are_counted_against_the_frequency(tmp_path):
    """Rows missing altogether are no blank cells: they are counted so that fit can say so."""
    path = tmp_path / "holes.csv"
    days = [1, 2, 3, 5, 8, 9, 10, 11, 12, 13]
    path.write_text("date,a\n" + "".join(f"2020-01-{day:02d},{day}\n" for day in days))
    assert missing_times(load_csv(path)) == (3, 13, pd.Timestamp("2020-01-04"))
    whole = tmp_path / "whole.csv"
    whole.write_text("date,a\n" + "".join(f"2020-01-{day:02d},{day}\n" for day in range(1, 14)))
    assert missing_times(load_csv(whole))[0] == 0


@pytest.mark.parametrize("first", [10**18, -(10**18), 9_000_000_000_000_000_000])
def test_integer_times_of_more_digits_than_model_json_reads_are_refused_by_line(write_csv, first):
    """model.json's reader takes integer times of at most 18 digits: fit must not write a model predict refuses."""
    path = write_csv("period,v\n" + "".join(f"{first + k},{k}\n" for k in range(3)))
    with pytest.raises(BadInput) as error:
        load_csv(path)
    assert str(error.value) == (
        f"{path}: line 2: {first} in time column 'period' has more than 18 digits, the most a model's integer "
        "times may have"
    )
    table = load_csv(write_csv("period,v\n" + "".join(f"{10**18 - 3 + k},{k}\n" for k in range(3))))
    assert table.values.index[-1] == 10**18 - 1


def test_absent_rows_at_a_fine_step_are_counted_not_listed(tmp_path):
    """Rows a nanosecond apart and one half a day later: 43.2 trillion timestamps implied, counted without a list of
    them (pandas' would take 314 TiB)."""
    start = pd.Timestamp("2020-01-01")
    times = [start + pd.Timedelta(k, "ns") for k in (0, 1, 2, 4)] + [start + pd.Timedelta(hours=12)]
    path = tmp_path / "fine.csv"
    path.write_text("date,a\n" + "".join(f"{t:%Y-%m-%dT%H:%M:%S}.{t.nanosecond:09d},1\n" for t in times))
    table = load_csv(path)
    assert table.frequency == "ns"
    assert missing_times(table) == (43_199_999_999_996, 43_200_000_000_001, start + pd.Timedelta(3, "ns"))


# --- read a chunk of rows at a time (forecaster.data.cells) ---


def test_a_column_that_turns_to_text_after_the_first_chunk_names_its_line(write_csv):
    chunk = CHUNK_ROWS
    rows = [(k, 1.5) for k in range(chunk + 10)]
    rows[chunk + 4] = (chunk + 4, "n/a")  # numbers throughout the first chunk, text in the second
    with pytest.raises(BadInput, match=rf"line {chunk + 6}: 'n/a' in column 'value' is not a number"):
        load_csv(write_csv(csv_text("step,value", rows)))


def test_a_long_file_keeps_its_ids_as_written(write_csv):
    """Ids that look like numbers or blanks stay text: "007" is not 7, nor the same series as "7"; "NA" is Namibia."""
    rows = [("007", "2024-01-01", 1), ("NA", "2024-01-01", 2), ("007", "2024-01-02", 3), ("NA", "2024-01-02", 4)]
    table = load_csv(write_csv(csv_text("id,date,value", rows)), id_col="id", value_col="value")
    assert list(table.values.columns) == ["007", "NA"]
    assert table.values.to_numpy().tolist() == [[1.0, 2.0], [3.0, 4.0]]


def test_two_columns_named_alike_are_refused(write_csv):
    with pytest.raises(BadInput, match="two columns are named 'a'"):
        load_csv(write_csv("date,a,a \n2024-01-01,1,2\n"))


@pytest.mark.parametrize(
    "header, said",
    [
        ("date,v,v", "two columns are named 'v' (columns 2, 3)"),  # pandas would read the second as 'v.1'
        ("date,date,v", "two columns are named 'date' (columns 1, 2)"),  # pandas would read the second as a series
        ('date, v ,"v",v\t', "3 columns are named 'v' (columns 2, 3, 4)"),
        ("date,v,w,v,w", "two columns are named 'v' (columns 2, 4); two columns are named 'w' (columns 3, 5)"),
    ],
)
def test_columns_named_alike_once_stripped_are_refused_by_name_and_place(write_csv, header, said):
    path = write_csv(f"{header}\n2024-01-01" + ",1" * (header.count(",")) + "\n")
    with pytest.raises(BadInput) as error:
        load_csv(path)
    assert str(error.value) == f"{path}: line 1: {said}; name each column once"


@pytest.mark.parametrize(
    "name, shown",
    [("a\x00b", "'a\\x00b'"), ('"a\nb"', "'a\\nb'"), ("a\x7fb", "'a\\x7fb'"), ('"a\tb"', "'a\\tb'")],
    ids=["nul", "line-feed", "delete", "tab"],
)
def test_a_column_name_holding_a_control_character_is_refused_naming_it(write_csv, name, shown):
    path = write_csv(f"date,{name},c\n2024-01-01,1,2\n2024-01-02,3,4\n")
    with pytest.raises(BadInput) as error:
        load_csv(path)
    assert str(error.value) == (
        f"{path}: line 1: a column name holds a control character: column 2 {shown}; name each column in printable text"
    )


def test_a_dataframe_s_columns_are_held_to_the_same_header_rules():
    frame = pd.DataFrame([[1.0, 2.0], [3.0, 4.0]], columns=["v", "v"], index=pd.date_range("2024-01-01", periods=2))
    with pytest.raises(BadInput, match=r"^DataFrame: line 1: two columns are named 'v' \(columns 1, 2\)"):
        load_frame(frame)


def test_a_series_is_named_as_a_series_not_a_dataframe():
    """Messages name what the user gave: a pandas Series, whose CSV text is its index and its values."""
    values = pd.Series([1.0, "x", 3.0], index=pd.date_range("2020-01-01", periods=3, freq="MS"), name="sales")
    with pytest.raises(BadInput, match=r"^Series: line 3: 'x' in column 'sales' is not a number$"):
        load_frame(values)
    assert load_frame(values.where(values != "x", 2.0).astype(float)).path == "Series"


def test_unnamed_columns_are_told_apart_by_place(write_csv):
    table = load_csv(write_csv(",,date,a\nw,x,2024-01-01,1\ny,z,2024-01-02,2\n"))
    assert list(table.values.columns) == ["a"]


@pytest.mark.parametrize(
    "text, said",
    [
        ("date,v\n2020-01-01,1\n2020-01-02,2,3\n", "line 3: 3 fields, where the header names 2"),
        ("v\n1\n2\n3,4\n", "line 4: 2 fields, where the header names 1"),
        ('date,v\n2020-01-01,1\n2020-01-02,"2\n2020-01-03,3\n', "line 3: a quote opens a cell and no quote closes"),
        ('"date,v\n2020-01-01,1\n', "line 1: its header does not read as names: a quote is not closed"),
    ],
    ids=["wider-row", "one-column", "open-quote", "open-quote-in-header"],
)
def test_a_row_that_does_not_parse_is_said_by_line_in_forecaster_s_words(write_csv, text, said):
    path = write_csv(text)
    with pytest.raises(BadInput) as error:
        load_csv(path)
    assert str(error.value).startswith(f"{path}: {said}")
    assert "C error" not in str(error.value) and "tokenizing" not in str(error.value)


def test_a_wider_row_deep_in_a_long_file_is_said_by_its_own_line(write_csv):
    rows = [f"{k},1" for k in range(2 * CHUNK_ROWS)]
    rows[CHUNK_ROWS + 7] += ",2"
    path = write_csv("\n".join(["step,v", *rows]) + "\n")
    with pytest.raises(BadInput, match=rf"^{path}: line {CHUNK_ROWS + 9}: 3 fields, where the header names 2"):
        load_csv(path)


def test_a_column_of_true_and_false_is_a_label_not_a_series(write_csv):
    table = load_csv(write_csv(csv_text("date,open,sales", daily_rows(3, ["True", "False", "True"], [1, 2, 3]))))
    assert list(table.values.columns) == ["sales"]


def test_a_wide_file_whose_column_turns_to_text_names_the_line_however_pandas_blocks_it(write_csv):
    """pandas reads a chunk of many columns in blocks of rows; a column must still be numbers or text as a whole."""
    header = "step," + ",".join(f"c{k}" for k in range(20))
    rows = [
        f"{row}," + ",".join("x" if (k == 0 and row == 40_000) else "1" for k in range(20)) for row in range(40_010)
    ]
    with pytest.raises(BadInput, match=r"line 40002: 'x' in column 'c0' is not a number"):
        load_csv(write_csv("\n".join([header, *rows]) + "\n"))


def test_dates_in_another_format_than_the_first_row_s_are_refused_by_line(write_csv):
    with pytest.raises(BadInput, match="line 4: cannot read '2020-01-01 10:00 PM' in column 'date'"):
        load_csv(write_csv("date,a\n2020-01-02,1\n2020-01-03,2\n2020-01-01 10:00 PM,3\n"))


def test_a_header_past_the_first_64_kib_and_an_integer_of_2_to_the_64_are_read(write_csv):
    names = ",".join(f'"series_{k:05d}"' for k in range(6000))  # quoted, as R's write.csv writes them
    table = load_csv(write_csv(f'"date",{names}\n2020-01-01,' + ",".join(["1"] * 6000) + "\n"))
    assert table.values.shape == (1, 6000)
    table = load_csv(write_csv("date,a\n2020-01-01,18446744073709551616\n2020-01-02,2\n"))
    assert table.values["a"].tolist() == [2.0**64, 2.0]
