"""CSV file -> validated table of series.

Everything a user can get wrong about a CSV file is caught here and reported
as :class:`BadInput` naming the file, the line (the header is line 1) and the
column, so that later stages may trust their input.
"""

from __future__ import annotations

import functools
import io
import os
import re
import warnings
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Literal

import numpy as np
import pandas as pd

from forecaster.data import cells, header
from forecaster.data import covariates as covariate
from forecaster.data.compressed import open_csv
from forecaster.data.seasons import steps_between
from forecaster.data.timezones import read_in_utc, refuse_some_without_offset, written_offsets
from forecaster.errors import BadInput, listed

#: column names taken as the time axis when --date-col is not given
TIME_COLUMN_NAMES = ("date", "datetime", "timestamp", "time", "ds", "day", "week", "month", "year", "period")
#: what fit, predict and backtest read: a CSV file's path, a DataFrame (wide or long) or a Series (one series)
Data = str | os.PathLike | pd.DataFrame | pd.Series
#: how messages (and model.json's training.source) name data given in memory, a Series or a DataFrame, for a file's path
IN_MEMORY = ("Series", "DataFrame")
#: the most digits of a time on an integer axis: model.json's reader takes no more (model/card.py)
INTEGER_TIME_DIGITS = 18
#: a long file's series, time and value columns as statsforecast, neuralforecast and mlforecast name them: read as
#: such when no column is named
CONVENTION = ("unique_id", "ds", "y")


@dataclass
class Table:
    """Series side by side on one time axis; leading NaN marks a series that starts late."""

    values: pd.DataFrame  #: float64 columns, one per series, index = time
    time_column: str | None  #: None when the file has no time column (row order is time)
    time_kind: str  #: "datetime", "integer" (a numeric time column) or "row"
    frequency: str | None  #: pandas offset alias, or the integer step as text
    path: str
    id_col: str | None = None  #: set for a long-format file: the column naming each row's series
    value_col: str | None = None  #: and the column holding its value
    #: a long file's ids as the data gave them: "text", or "integer" (a DataFrame's integer column, which the Python
    #: forecast gives back as integers, so that it merges with the frame)
    id_type: str = "text"
    notes: list[str] = field(default_factory=list)  #: what the user should know about how the file was read
    #: the covariate columns asked for, per series, and the future rows of the future-known ones
    covariates: covariate.Covariates = field(default_factory=covariate.Covariates.none)

    @property
    def ends(self) -> dict[str, Any]:  # the index's labels: Timestamps, or integers on an integer axis
        """Each series' last timestamp: in a long file a series may end before the others."""
        return {str(column): self.values[column].last_valid_index() for column in self.values.columns}

    @property
    def columns(self) -> list[str]:
        return [str(column) for column in self.values.columns]

    @property
    def last_time(self) -> str:
        return time_text(self.values.index[-1])

    def positions(self) -> np.ndarray:
        """Each row's step on the time axis counted from the first row: where it falls in its season."""
        return steps_between(self.time_kind, self.frequency, self.values.index[0], self.values.index)

    def future_times(self, steps: int) -> list:
        """The ``steps`` timestamps after the last row, continuing the series' frequency."""
        return future_times(self.time_kind, self.frequency, self.values.index[-1], steps)


def time_text(value) -> str:
    """A row's time as model.json and reports write it: ISO 8601, or the row number of a file without times."""
    return value.isoformat() if isinstance(value, pd.Timestamp) else str(int(value))


def time_label(value) -> str:
    """A row's time for people: the date alone at midnight (daily and coarser data), else date and time."""
    if isinstance(value, pd.Timestamp) and value == value.normalize():
        return value.date().isoformat()
    return time_text(value).replace("T", " ")


def future_times(time_kind: str, frequency: str | None, last, steps: int) -> list:
    if time_kind == "datetime":
        if frequency is None:
            raise BadInput("cannot continue the time axis: its frequency is unknown (fewer than two timestamps)")
        try:
            return list(pd.date_range(start=pd.Timestamp(last), periods=steps + 1, freq=frequency)[1:])
        except (ValueError, OverflowError):  # pandas' OutOfBoundsDatetime, and a step finer than the times' unit
            raise BadInput(
                f"cannot continue the time axis {steps} steps of {frequency} after {time_text(pd.Timestamp(last))}: "
                "beyond the times a date can hold at that step"
            ) from None
    step = int(frequency or 1)
    return [int(last) + step * (k + 1) for k in range(steps)]


def load_csv(
    path: str | os.PathLike,
    date_col: str | None = None,
    targets: Sequence[str] = (),
    *,
    fill: str | None = "error",
    id_col: str | None = None,
    value_col: str | None = None,
    covariates: Mapping[str, str] | None = None,
    freq: str | None = None,
) -> Table:
    """Read and validate a CSV file of series (compressed or not, by its extension).

    Wide files have an optional time column and one numeric column per
    series; long files (``id_col`` given) have one row per series and time.
    ``targets`` picks columns (wide) or ids (long). ``fill`` is the policy
    for gaps after a series' first value (see :data:`forecaster.options.FILL_POLICIES`, checked by FitOptions); None
    keeps them, for a caller that fills them later with :func:`fill_gaps`.
    ``covariates`` maps covariate columns to their kind (past, future or
    static: :mod:`forecaster.data.covariates`); rows after the series' last
    values are then kept as the future rows of the future-known ones.
    ``freq`` (--freq) is the time axis' step, where it is not to be inferred.
    """
    name = str(path)
    _check_layout(id_col, value_col)
    kinds = covariates or {}
    return _validated(
        _read(Path(path), name, _kept_as_text(id_col, kinds)),
        name,
        date_col,
        targets,
        fill,
        id_col,
        value_col,
        kinds,
        freq,
    )


def load_frame(
    frame: pd.DataFrame | pd.Series,
    date_col: str | None = None,
    targets: Sequence[str] = (),
    *,
    fill: str | None = "error",
    id_col: str | None = None,
    value_col: str | None = None,
    covariates: Mapping[str, str] | None = None,
    freq: str | None = None,
) -> Table:
    """Validate a pandas DataFrame of series exactly as its CSV text would be (see :func:`load_csv`).

    A DatetimeIndex, or an index with a name, is the time column (an unnamed
    DatetimeIndex is called ``date``); any other index is ignored. Errors name
    the DataFrame's lines as in its CSV text: line 1 is the header, line 2
    the first row.
    """
    _check_layout(id_col, value_col)
    kinds = covariates or {}
    name = IN_MEMORY[0] if isinstance(frame, pd.Series) else IN_MEMORY[1]  # as messages name it
    cells_of, given = _frame_cells(frame, name, _kept_as_text(id_col, kinds))
    table = _validated(cells_of, name, date_col, targets, fill, id_col, value_col, kinds, freq)
    if table.id_col is not None and pd.api.types.infer_dtype(given[table.id_col]) == "integer":
        table.id_type = "integer"
    return table


def _frame_cells(frame: object, name: str, as_text: Collection[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A DataFrame's cells as its CSV text gives them (:func:`_parse`), and the frame they were written from, its time
    index a column, its columns named as in the text."""
    if isinstance(frame, pd.Series):  # one series: its name (a text one), and its index as time
        frame = frame.to_frame(name=frame.name if isinstance(frame.name, str) and frame.name.strip() else "value")
    if not isinstance(frame, pd.DataFrame):
        kind = type(frame)
        if kind.__module__.partition(".")[0] == "polars":  # not imported: polars is the user's, not a dependency
            raise BadInput(f"{name}: a polars {kind.__name__} is not read; give it as pandas' with .to_pandas()")
        raise BadInput(f"data must be a CSV file's path, a pandas DataFrame or Series, not {kind.__name__}")
    header.refuse_names([str(column) for column in frame.columns], name)
    if isinstance(frame.index, pd.PeriodIndex):  # each period by its start, as a CSV's dates would be
        frame = frame.set_axis(frame.index.to_timestamp())
    periods = [column for column in frame.columns if isinstance(frame[column].dtype, pd.PeriodDtype)]
    if periods:  # a time column of periods (statsforecast's ds may be one): each by its start, too
        frame = frame.assign(**{str(column): frame[column].dt.to_timestamp() for column in periods})
    if isinstance(frame.index, pd.DatetimeIndex) or frame.index.name is not None:
        label: Any = frame.index.name  # any hashable, as pandas allows
        frame = frame.rename_axis(label or "date").reset_index()
    frame = frame.set_axis([str(column).strip() for column in frame.columns], axis=1)
    text = frame.to_csv(index=False, date_format="%Y-%m-%dT%H:%M:%S.%f%z")
    first_line = text.splitlines()[0] if text.strip() else ""
    return _parse(io.BytesIO(text.encode("utf-8")), first_line, ",", name, "", as_text), frame


def load(
    data: Data,
    date_col: str | None = None,
    targets: Sequence[str] = (),
    *,
    fill: str | None = "error",
    id_col: str | None = None,
    value_col: str | None = None,
    covariates: Mapping[str, str] | None = None,
    freq: str | None = None,
) -> Table:
    """A CSV file's path (:func:`load_csv`) or a DataFrame (:func:`load_frame`): what fit and predict take."""
    options: dict[str, Any] = {"fill": fill, "id_col": id_col, "value_col": value_col, "covariates": covariates}
    if isinstance(data, (str, os.PathLike)):
        return load_csv(data, date_col, targets, **options, freq=freq)
    return load_frame(data, date_col, targets, **options, freq=freq)


#: how messages name a DataFrame of future covariate values
FUTURE_FRAME = "the future DataFrame"


def load_future(
    data: Data,
    time_column: str | None,
    kinds: Mapping[str, str],
    id_col: str | None,
    series: Sequence[str],
) -> covariate.Covariates:
    """A file (``forecaster predict --future FILE``) or a DataFrame of future covariate values: a time column and the
    columns, wide, or an id column too, long; only the future-known columns of ``kinds`` are read."""
    as_text = _kept_as_text(id_col, {})
    if isinstance(data, (str, os.PathLike)):
        name, frame = str(data), _read(Path(data), str(data), as_text)
    else:
        name, frame = FUTURE_FRAME, _frame_cells(data, FUTURE_FRAME, as_text)[0]
    time_column = _find_time_column(frame, name, time_column)
    if time_column is None:
        raise BadInput(f"{name}: no time column; the future values need their times")
    columns = [column for column, kind in kinds.items() if kind == "future"]
    covariate.require_columns(frame, name, columns, "future")
    times, _, _ = _parse_times(frame[time_column], name, time_column)
    lines = np.arange(2, len(frame) + 2)
    if id_col is None:
        twice = times.duplicated(keep=False)
        if twice.any():
            raise BadInput(
                f"{name}: duplicated timestamp {times[twice][0]} in column {time_column!r} "
                f"(lines {', '.join(map(str, lines[twice][:5]))})"
            )
        return covariate.Covariates(covariate.wide(frame, name, times, lines, list(series), columns), {})
    if id_col not in frame.columns:
        raise BadInput(f"{name}: no column {id_col!r}, the model's series ids; columns are {', '.join(frame.columns)}")
    rows = pd.DataFrame({"id": frame[id_col].str.strip().to_numpy(), "time": times, "line": lines})
    for column in columns:
        rows[column] = frame[column].to_numpy()
    rows = rows[rows["id"].isin(series)]
    duplicated = rows.duplicated(["id", "time"], keep=False)
    if duplicated.any():
        first = rows[duplicated].iloc[0]
        raise BadInput(f"{name}: series {first['id']!r} has two rows for {first['time']}")
    return covariate.long(rows, name, list(series), columns, ())


def _kept_as_text(id_col: str | None, kinds: Mapping[str, str]) -> set[str]:
    """The columns read as the file writes them even when they hold numbers: the series' ids (statsforecast's
    unique_id too, read as the ids when no column is named) and the static covariates."""
    return {id_col or CONVENTION[0], *(column for column, kind in kinds.items() if kind == "static")}


def _check_layout(id_col: str | None, value_col: str | None) -> None:
    if value_col is not None and id_col is None:
        raise BadInput("--value-col needs --id-col (a long-format file)")


def _validated(
    frame: pd.DataFrame,
    name: str,
    date_col: str | None,
    targets: Sequence[str],
    fill: str | None,
    id_col: str | None,
    value_col: str | None,
    kinds: Mapping[str, str],
    freq: str | None = None,
) -> Table:
    """The cells of a file, as text -> a validated table."""
    notes = []
    if id_col is None and value_col is None and date_col is None and set(CONVENTION) <= set(frame.columns):
        id_col, date_col, value_col = CONVENTION
        notes.append(
            "read as a long file: series in 'unique_id', times in 'ds', values in 'y' (the columns of statsforecast "
            "and neuralforecast)"
        )
    time_column = _find_time_column(frame, name, date_col)
    time_varying = [column for column, kind in kinds.items() if kind != "static"]
    for kind in ("past", "future", "static"):
        covariate.require_columns(frame, name, [column for column in kinds if kinds[column] == kind], kind)
    if id_col is not None:
        values, time_kind, value_col, note, found = _long_series(
            frame, name, time_column, id_col, value_col, targets, kinds
        )
        lines = None
        unread = [column for column in frame.columns if column not in (id_col, time_column, value_col, *kinds)]
        if unread:
            notes.append(
                f"not read: column{'s' if len(unread) > 1 else ''} {listed([repr(column) for column in unread])}; a "
                "column is read as a covariate when named as one, past, future or static (docs/covariates.md)"
            )
    else:
        values = _series_columns(frame.drop(columns=list(kinds)), name, time_column, targets)
        index: pd.Index
        if time_column is None:
            index, time_kind, note = pd.RangeIndex(1, len(frame) + 1), "row", None
        else:
            index, time_kind, note = _parse_times(frame[time_column], name, time_column)
        values.index = index
        lines = np.arange(2, len(frame) + 2)
        found = covariate.Covariates(covariate.wide(frame, name, index, lines, list(values.columns), time_varying), {})
        if time_column is not None:
            order = np.argsort(index.to_numpy(), kind="stable")
            values, lines = values.iloc[order], lines[order]
            found = covariate.Covariates({column: part.iloc[order] for column, part in found.columns.items()}, {})
            duplicated = values.index.duplicated(keep=False)
            if duplicated.any():
                raise BadInput(
                    f"{name}: duplicated timestamp {values.index[duplicated][0]} in column {time_column!r} "
                    f"(lines {', '.join(map(str, lines[duplicated][:5]))}); if each row holds one series' value, it "
                    "is a long file: name its series column with --id-col"
                )
    if kinds:  # the rows after every series' last value are future rows: covariates only
        last = values.notna().any(axis=1).to_numpy()
        kept = int(np.flatnonzero(last)[-1]) + 1 if last.any() else len(values)
        values = values.iloc[:kept]
        lines = lines[:kept] if lines is not None else None
    empty = values.isna().all().to_numpy()
    if empty.any():
        raise BadInput(f"{name}: column {values.columns[int(np.argmax(empty))]!r} has no values")
    if found.columns and fill == "drop":  # a row without a covariate's value goes, as one without a series' value
        history = [part.reindex(values.index).isna() & values.notna() for part in found.columns.values()]
        dropped = np.logical_or.reduce([missing.any(axis=1).to_numpy() for missing in history])
        values, lines = values[~dropped], (lines[~dropped] if lines is not None else None)
    values = fill_gaps(values, fill, time_kind, trailing_is_gap=id_col is None, name=name, lines=lines)
    if freq is None:
        frequency = infer_frequency(values.index, time_kind)
    else:
        frequency = _stepped(values.index, time_kind, freq, name)
    return Table(
        values=values,
        time_column=time_column,
        time_kind=time_kind,
        frequency=frequency,
        path=name,
        id_col=id_col,
        value_col=value_col,
        notes=[*notes, note] if note else notes,
        covariates=covariate.Covariates(
            _covariate_history(found.columns, values, name, dict(kinds), fill), found.statics
        ),
    )


def _covariate_history(
    covariates: dict[str, pd.DataFrame], values: pd.DataFrame, name: str, kinds: dict[str, str], fill: str | None
) -> dict[str, pd.DataFrame]:
    """Each covariate's gaps up to its series' last value filled as ``fill`` says (None, a backtest's reading: from
    the values before each gap alone, as its series is filled per origin); a covariate still missing where its
    series has a value is refused, naming the column, the series and the time. Nothing after a series' last value
    is made up: those are the future rows, given or not."""
    policy = "ffill" if fill is None else fill
    until_last = values.notna()[::-1].cummax()[::-1].to_numpy()
    checked = {}
    for column, frame in covariates.items():
        given = frame.reindex(values.index)
        history = given
        if policy not in ("error", "drop"):
            filled = fill_gaps(given, policy, _axis_kind(values.index), trailing_is_gap=True, name=name)
            history = filled.where(until_last, given)
        missing = history.isna().to_numpy() & values.notna().to_numpy()
        if missing.any() and fill is not None:
            row, k = (int(i[0]) for i in np.nonzero(missing))
            hint = "; fill its gaps with --fill interpolate or ffill" if fill in ("error", "drop") else ""
            raise BadInput(
                f"{name}: column {column!r} (--{kinds[column]}) has no value at {time_text(values.index[row])}, where "
                f"series {values.columns[k]!r} has one{hint}"
            )
        checked[column] = pd.concat([history, frame.loc[frame.index.difference(values.index)]]).sort_index()
    return checked


def _axis_kind(index: pd.Index) -> str:
    return "datetime" if isinstance(index, pd.DatetimeIndex) else "integer"


def _long_series(
    frame: pd.DataFrame,
    name: str,
    time_column: str | None,
    id_col: str,
    value_col: str | None,
    targets: Sequence[str],
    kinds: Mapping[str, str],
) -> tuple[pd.DataFrame, str, str, str | None, covariate.Covariates]:
    """One row per (series, time) -> one column per series on the union of times; the time column's note; the
    covariates, per series."""
    if id_col not in frame.columns:
        raise BadInput(f"{name}: no column {id_col!r} (--id-col); columns are {', '.join(frame.columns)}")
    if time_column is None or time_column == id_col:
        raise BadInput(f"{name}: a long-format file needs a time column; name it with --time-col")
    if value_col is None:
        others = [column for column in frame.columns if column not in (id_col, time_column, *kinds)]
        if len(others) != 1:
            raise BadInput(
                f"{name}: name the value column with --value-col (candidates: {', '.join(others) or 'none'})"
            )
        value_col = others[0]
    elif value_col not in frame.columns:
        raise BadInput(f"{name}: no column {value_col!r} (--value-col); columns are {', '.join(frame.columns)}")
    ids = _stripped(frame[id_col])
    blank = (ids == "").to_numpy()
    if blank.any():
        raise BadInput(f"{name}: line {int(np.flatnonzero(blank)[0]) + 2}: no series id in column {id_col!r}")
    for target in targets:
        if target not in set(ids.unique()):
            raise BadInput(f"{name}: no series {target!r} in column {id_col!r} (--target)")
    steps, axis, time_kind, note = _time_codes(frame[time_column], name, time_column)
    numbers = _series_columns(frame[[value_col]], name, None, (value_col,))[value_col].to_numpy()
    if value_col in kinds:
        raise BadInput(f"{name}: column {value_col!r} holds the values; it cannot also be a --{kinds[value_col]}")
    positions = None  # the kept rows' places in the file (line - 2): every row unless --target picks series
    if targets:
        kept = ids.isin(targets).to_numpy()
        positions = np.flatnonzero(kept)
        ids, numbers = ids[kept], numbers[kept]
        present = np.unique(steps[kept])  # the times of the series picked
        steps, axis = np.searchsorted(present, steps[kept]), axis[present]
    # each row's place in the table of series x times, from codes: filled in place, not pivoted from a frame of rows
    series, names = _codes_by_first_row(ids)
    cell = steps * len(names) + series
    counts = np.bincount(cell, minlength=len(axis) * len(names))
    if counts.max(initial=0) > 1:
        first = int(np.flatnonzero(counts[cell] > 1)[0])
        rows = np.flatnonzero(cell == cell[first])
        lines = ", ".join(map(str, (rows if positions is None else positions[rows]) + 2))
        raise BadInput(f"{name}: series {names[series[first]]!r} has two rows for {axis[steps[first]]} (lines {lines})")
    del counts
    table = np.full(len(axis) * len(names), np.nan)
    table[cell] = numbers
    values = pd.DataFrame(table.reshape(len(axis), len(names)), index=axis, columns=names, copy=False)
    found = covariate.Covariates.none()
    if kinds:
        where = np.arange(len(frame)) if positions is None else positions
        cells_of = pd.DataFrame({"id": ids.to_numpy(), "time": axis[steps], "line": where + 2})
        for column in kinds:
            cells_of[column] = frame[column].to_numpy()[where]
        found = covariate.long(
            cells_of,
            name,
            list(values.columns),
            [column for column, kind in kinds.items() if kind != "static"],
            [column for column, kind in kinds.items() if kind == "static"],
        )
    return values, time_kind, value_col, note, found


def fill_gaps(
    values: pd.DataFrame,
    policy: str | None,
    time_kind: str,
    trailing_is_gap: bool,
    name: str = "data",
    lines: np.ndarray | None = None,
) -> pd.DataFrame:
    """Apply the --fill policy (None: none) to gaps after a series' first value; ``lines`` are the file's, for errors.

    Leading gaps are never filled: they mark a series that starts late. In a
    long file a series may also end early; in a wide file every series is
    expected up to the last row, so trailing gaps count as gaps.
    """
    present = values.notna()
    gaps = present.cummax() & ~present
    if not trailing_is_gap:
        gaps &= present[::-1].cummax()[::-1]
    if policy is None or not gaps.to_numpy().any():
        return values
    if policy == "error":
        column = next(column for column in values.columns if gaps[column].any())
        rows = np.flatnonzero(gaps[column].to_numpy())
        where = ", ".join(
            str(values.index[row].date() if time_kind == "datetime" else values.index[row]) for row in rows[:3]
        )
        if lines is not None:
            where = f"lines {', '.join(map(str, lines[rows[:3]]))}"
        more = f" and {rows.size - 3} more" if rows.size > 3 else ""
        raise BadInput(
            f"{name}: column {column!r} has missing values after its first value ({where}{more}); "
            f"fill them with --fill interpolate, ffill or drop"
        )
    if policy == "drop":
        return values[~gaps.any(axis=1)]
    if policy == "interpolate":
        method: Literal["time", "index"] = "time" if time_kind == "datetime" else "index"
        filled = values.interpolate(method=method, limit_area="inside").ffill()
    else:
        filled = values.ffill()
    return values.where(~gaps, filled)


def _read(path: Path, name: str, as_text: Collection[str]) -> pd.DataFrame:
    """The file's cells (:func:`_parse`), once its start, size and header are checked (:func:`header.check`);
    compressed files (:mod:`forecaster.data.compressed`) are checked once decompressed."""
    head = header.check(path)
    with open_csv(path) as stream:
        return _parse(stream, head.header, head.delimiter, name, head.decompressed, as_text)


def _parse(
    stream: IO[bytes], first_line: str, delimiter: str, name: str, decompressed: str, as_text: Collection[str] = ()
) -> pd.DataFrame:
    """CSV text -> its cells, a chunk of rows at a time: numbers where a column holds only numbers and blanks (and is
    not named in ``as_text``), else text (:mod:`forecaster.data.cells`); refused with the reason when it is not a table
    of series."""
    try:
        with warnings.catch_warnings():
            # a first row wider than the header is refused, not taken as an index column (pandas' implicit index,
            # which a ragged row of 200,000 fields made cost 40 s and a gigabyte) nor cut to the header's width
            warnings.simplefilter("error", pd.errors.ParserWarning)
            read = functools.partial(
                pd.read_csv, sep=delimiter, encoding="utf-8-sig", skipinitialspace=True, index_col=False
            )
            names, text = _text_columns(stream, read, as_text)
            with read(
                stream,
                dtype=dict.fromkeys(text, str),
                keep_default_na=False,  # blank cells only (cells.BLANKS): "NA" may be Namibia's series
                na_values={name: list(cells.BLANKS) for name in names if name not in text} if text else cells.BLANKS,
                low_memory=False,  # a chunk's column parsed whole: numbers or text, not blocks of each
                chunksize=cells.CHUNK_ROWS,
            ) as reader:
                chunks: list[pd.DataFrame] = []
                columns: pd.Index = pd.Index([], dtype=object)
                for chunk in reader:
                    if not chunks:  # every chunk has the header's columns
                        columns = pd.Index([str(column).strip() for column in chunk.columns])
                    chunks.append(cells.compact(chunk.set_axis(columns, axis=1), as_text))
    except pd.errors.ParserWarning:
        raise BadInput(
            f"{name}: a row holds more fields than the header names ({len(first_line.split(delimiter))}): name every "
            "column in the first line"
        ) from None
    except UnicodeDecodeError as exc:
        raise BadInput(f"{name}: not UTF-8 text ({exc.reason} at byte {exc.start + 1}{decompressed})") from None
    except pd.errors.EmptyDataError:
        raise BadInput(f"{name}: is empty") from None
    except (pd.errors.ParserError, ValueError) as exc:
        raise BadInput(f"{name}: {_unreadable(str(exc))}") from None
    frame = cells.joined(chunks, list(columns))
    if frame.empty:
        raise BadInput(f"{name}: has a header but no data rows")
    _refuse_data_as_header(frame.columns, first_line, name)
    return frame


def _text_columns(stream: IO[bytes], read: Callable[..., Any], as_text: Collection[str]) -> tuple[list[str], list[str]]:
    """The file's columns as pandas names them, and those read as text (``as_text``, names stripped); none without
    ``as_text``, which needs no names: a wide file's header read alone costs a Series a column, seconds for tens of
    thousands. The stream is left at its start."""
    if not as_text:
        return [], []
    names = [str(name) for name in read(stream, nrows=0).columns]
    stream.seek(0)
    return names, [name for name in names if name.strip() in as_text]


def _unreadable(said: str) -> str:
    """pandas' reason a file does not parse, in forecaster's words: the line and what is wrong there."""
    if fields := re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", said):
        expected, line, saw = fields.groups()
        return f"line {line}: {saw} fields, where the header names {expected}; give every row the header's columns"
    if quote := re.search(r"EOF inside string starting at row (\d+)", said):
        return f"line {int(quote[1]) + 1}: a quote opens a cell and no quote closes it before the file ends"
    return "not a readable CSV file: its rows do not parse as fields separated by its delimiter"


def _refuse_data_as_header(columns: pd.Index, first_line: str, name: str) -> None:
    """A first line of numbers or dates only is a row of data: read as the header, it would be lost without a word."""
    names = pd.Series(list(columns), dtype=str)
    values = _numbers(names).notna() | pd.to_datetime(names, errors="coerce", format="ISO8601").notna()
    if values.all():
        raise BadInput(
            f"{name}: line 1 ({first_line.strip()!r}) holds data, not the names of the columns; "
            f"add a first line naming them, such as 'date,value' or 'value'"
        )


def _find_time_column(frame: pd.DataFrame, name: str, date_col: str | None) -> str | None:
    if date_col is not None:
        if date_col not in frame.columns:
            raise BadInput(f"{name}: no column {date_col!r} (--date-col); columns are {', '.join(frame.columns)}")
        return date_col
    for column in frame.columns:
        if column.lower() in TIME_COLUMN_NAMES:
            return column
    for column in frame.columns:
        sample = frame[column].head(20)
        if _numbers(sample).isna().all() and pd.to_datetime(sample, errors="coerce", format="ISO8601").notna().all():
            return column
    return None


def _codes_by_first_row(ids: pd.Series) -> tuple[np.ndarray, list[str]]:
    """Each row's series (a column of categories) as a number, numbered in the order the series first appear; their
    names."""
    codes = ids.cat.codes.to_numpy()
    present, first = np.unique(codes, return_index=True)
    order = present[np.argsort(first)]
    number = np.zeros(len(ids.cat.categories), dtype=np.int64)
    number[order] = np.arange(len(order))
    return number[codes], [str(each) for each in ids.cat.categories[order]]


def _stripped(column: pd.Series) -> pd.Series:
    """A column of text as categories, each stripped of spaces (two that differ by spaces only are one)."""
    text = column.astype("category")
    stripped = text.cat.categories.to_series().str.strip().to_numpy(dtype=object)
    distinct, inverse = np.unique(stripped, return_inverse=True)
    codes = text.cat.codes.to_numpy()
    recoded = np.where(codes >= 0, inverse[codes], -1)
    return pd.Series(pd.Categorical.from_codes(recoded, dtype=pd.CategoricalDtype(pd.Index(distinct))))


def _parse_times(column: pd.Series, name: str, label: str) -> tuple[pd.Index, str, str | None]:
    """The time axis, its kind ("integer" or "datetime") and a note for the user, if any."""
    steps, axis, kind, note = _time_codes(column, name, label)
    return axis[steps].set_names(column.name), kind, note


def _time_codes(column: pd.Series, name: str, label: str) -> tuple[np.ndarray, pd.Index, str, str | None]:
    """Each row's time as its rank among the distinct times, the distinct times in order, their kind and a note.

    A column of text is parsed a distinct value at a time (a long file's
    dates repeat for every series); one that cannot be is parsed again a row
    at a time, so that the error names the first line that has it.
    """
    if isinstance(column.dtype, pd.CategoricalDtype) and not column.isna().any():
        codes = column.cat.codes.to_numpy()
        used, first = np.unique(codes, return_index=True)
        used = used[np.argsort(first)]  # in the rows' order: pandas takes the format of the first
        try:
            times, kind, note = _parsed_times(column.cat.categories[used].to_series(), name, label)
        except BadInput:
            pass
        else:
            ranks, axis = _ranks(times)  # two spellings of one time are one time
            rank_of = np.zeros(len(column.cat.categories), dtype=np.int64)
            rank_of[used] = ranks
            return rank_of[codes], axis, kind, note
    times, kind, note = _parsed_times(column, name, label)
    ranks, axis = _ranks(times)
    return ranks, axis, kind, note


def _ranks(times: pd.Index) -> tuple[np.ndarray, pd.Index]:
    """Each time's rank among the distinct ones; the distinct times, in order."""
    keys = times.asi8 if isinstance(times, pd.DatetimeIndex) else times.to_numpy()
    _, first, ranks = np.unique(keys, return_index=True, return_inverse=True)
    return ranks, times[first]


def _parsed_times(column: pd.Series, name: str, label: str) -> tuple[pd.Index, str, str | None]:
    blank = column.isna() if cells.is_numbers(column) else column.str.strip() == ""
    if blank.any():
        raise BadInput(f"{name}: line {int(np.flatnonzero(blank)[0]) + 2}: no value in time column {label!r}")
    numbers = _numbers(column)
    if numbers.notna().all():
        if not (numbers == numbers.round()).all():
            raise BadInput(f"{name}: time column {label!r} holds numbers that are not whole (use dates or integers)")
        too_long = (numbers.abs() >= 10**INTEGER_TIME_DIGITS).to_numpy()
        if too_long.any():
            first = int(np.flatnonzero(too_long)[0])
            raise BadInput(
                f"{name}: line {first + 2}: {column.iloc[first]} in time column {label!r} has more than "
                f"{INTEGER_TIME_DIGITS} digits, the most a model's integer times may have"
            )
        return pd.Index(numbers.astype("int64").to_numpy()), "integer", None
    note = None
    try:
        with warnings.catch_warnings():  # rows that do not parse are reported below, by line
            warnings.filterwarnings("ignore", "Could not infer format", UserWarning)
            times = pd.to_datetime(column, errors="coerce")
    except (
        ValueError
    ):  # several UTC offsets: instants, compared in UTC when they are one zone's (forecaster.data.timezones)
        times = pd.to_datetime(column, errors="coerce", utc=True)
        if times.notna().all():
            note = read_in_utc(column, times, name, label)
    bad = times.isna().to_numpy()
    if bad.any():
        refuse_some_without_offset(column, written_offsets(column), name, label)  # what pandas sees as another format
        first = int(np.flatnonzero(bad)[0])
        raise BadInput(
            f"{name}: line {first + 2}: cannot read {column.iloc[first]!r} in column {label!r} as a date in the format "
            "of the first row"
        )
    return pd.DatetimeIndex(times), "datetime", note


def _numbers(column: pd.Series) -> pd.Series:
    """A column of cells as numbers, NaN where a cell is blank or not a number."""
    return column if cells.is_numbers(column) else cells.parsed(column)[0]


def _series_columns(frame: pd.DataFrame, name: str, time_column: str | None, targets: Sequence[str]) -> pd.DataFrame:
    candidates = [column for column in frame.columns if column != time_column]
    for target in targets:
        if target not in frame.columns:
            raise BadInput(f"{name}: no column {target!r} (--target); columns are {', '.join(frame.columns)}")
        if target == time_column:
            raise BadInput(f"{name}: column {target!r} is the time column; it cannot also be a --target")
    chosen: list[str] = []
    parsed: dict[str, pd.Series] = {}
    numeric = dict(zip(frame.columns, frame.dtypes.map(cells.is_numeric_kind), strict=True))  # not a Series a column
    for column in targets or candidates:
        if numeric[column]:
            chosen.append(column)
            continue
        numbers, blank = cells.parsed(frame[column])
        not_numbers = numbers.isna() & ~blank
        if not targets and not_numbers.all():
            continue  # a label column, not a series
        if not_numbers.any():
            first = int(np.flatnonzero(not_numbers.to_numpy())[0])
            raise BadInput(
                f"{name}: line {first + 2}: {frame[column].iloc[first]!r} in column {column!r} is not a number"
            )
        chosen.append(column)
        parsed[column] = numbers
    if not chosen:
        raise BadInput(f"{name}: no numeric column to forecast")
    # checked as one block: a wide file may have thousands of columns
    block = pd.DataFrame({column: parsed.get(column, frame[column]) for column in chosen}) if parsed else frame[chosen]
    values = block.to_numpy(dtype="float64")
    infinite = np.isinf(values)
    if infinite.any():
        where = int(np.flatnonzero(infinite.any(axis=0))[0])
        line = int(np.flatnonzero(infinite[:, where])[0]) + 2
        raise BadInput(f"{name}: line {line}: infinite value in column {chosen[where]!r}")
    return pd.DataFrame(values, columns=chosen, copy=False)


def infer_frequency(index: pd.Index, time_kind: str) -> str | None:
    """A pandas offset alias for dates, the usual step for integers; None with one row."""
    if len(index) < 2:
        return None if time_kind == "datetime" else "1"
    if time_kind != "datetime":
        steps = np.diff(index.to_numpy())
        return str(int(pd.Series(steps).mode().iloc[0]))
    index = pd.DatetimeIndex(index)
    if len(index) >= 3:
        with warnings.catch_warnings():  # pandas >= 3.1 warns that infer_freq will return an offset
            warnings.filterwarnings("ignore", "A future version of pandas will return a BaseOffset", DeprecationWarning)
            alias = pd.infer_freq(index)
        if alias:
            return pd.tseries.frequencies.to_offset(alias).freqstr  # a string with either return type
    usual_step = pd.Series(np.diff(index.to_numpy())).mode().iloc[0]
    if usual_step == pd.Timedelta(days=1) and (index.day_of_week < 5).all():
        return "B"  # trading days: weekdays with holidays missing
    return pd.tseries.frequencies.to_offset(pd.Timedelta(usual_step)).freqstr


def _stepped(index: pd.Index, time_kind: str, freq: str, name: str) -> str:
    """``freq`` (--freq, checked by FitOptions) as the axis' frequency, once every time is shown to lie on its steps
    from the first."""
    if time_kind == "row":
        raise BadInput(f"{name}: --freq {freq} needs a time column; without one, row order is time")
    if (time_kind == "integer") != freq.isdigit():
        raise BadInput(
            f"{name}: --freq {freq} does not fit the times, which are "
            + ("integers: give their step, such as --freq 1" if time_kind == "integer" else "dates")
        )
    first = index[0]
    if time_kind == "integer":
        off = (index.to_numpy() - first) % int(freq) != 0
    else:
        offset = pd.tseries.frequencies.to_offset(freq)
        times = pd.DatetimeIndex(index)
        if isinstance(offset, pd.offsets.Tick):
            off = ((times - first) % pd.Timedelta(offset)).to_numpy() != np.timedelta64(0)
        else:
            off = ~times.isin(pd.date_range(first, times[-1], freq=offset))
        freq = offset.freqstr
    if off.any():
        at = int(np.flatnonzero(off)[0])
        raise BadInput(
            f"{name}: the time {time_text(index[at])} is not on a step of --freq {freq}"
            + (f" counted from the first time, {time_text(first)}" if at else "")
        )
    return freq


def missing_times(table: Table) -> tuple[int, int, object]:
    """Timestamps the frequency implies between the first and last row that no row has: (missing, expected, first
    missing).

    A gap policy sees only blank cells; a row that is absent altogether makes
    a window span more time than it seems to. Trading days miss their holidays
    (about 4%), which is why callers judge the share.
    """
    if table.time_kind != "datetime" or table.frequency is None:
        return 0, len(table.values), None
    index = pd.DatetimeIndex(table.values.index)
    offset = pd.tseries.frequencies.to_offset(table.frequency)
    if isinstance(offset, pd.offsets.Tick):
        return _missing_steps(index, pd.Timedelta(offset))
    expected = pd.date_range(index[0], index[-1], freq=table.frequency)
    absent = expected.difference(index)
    return len(absent), len(expected), (absent[0] if len(absent) else None)


def _missing_steps(index: pd.DatetimeIndex, step: pd.Timedelta) -> tuple[int, int, object]:
    """:func:`missing_times` of a fixed step, counted rather than listed: a day of nanosecond steps is 86 trillion
    timestamps, and rows a nanosecond apart a day's span from the first row would make pandas list them all."""
    since, length = (index - index[0]).to_numpy(), step.to_timedelta64()
    offsets = since // length
    present = np.unique(offsets[since % length == np.timedelta64(0)])
    expected = int(offsets[-1]) + 1
    gaps = np.flatnonzero(present != np.arange(len(present)))
    first = int(gaps[0]) if len(gaps) else len(present) if len(present) < expected else None
    return expected - len(present), expected, (index[0] + first * step if first is not None else None)
