"""Features of the calendar, known for any future time: the place in the day, the week and the year, and holidays.

Each cycle is given as the sine and cosine of its phase, so that 23:30 is
next to 00:00 and 31 December to 1 January, as neuralforecast's and darts'
cyclic encoders give them; times with a UTC offset are read in UTC, so that
a file written with one offset and another written with several read alike.
Public holidays come from the ``holidays``
package (https://github.com/vacanza/holidays), a country's and optionally a
subdivision's: ``AU-VIC`` is Victoria's.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from forecaster.errors import BadInput

#: the cycles a calendar may give, in the order features are laid out
CYCLES = ("hour_of_day", "day_of_week", "day_of_year")
#: steps up to this long read the day of the week and the year (trading days skip weekends: three days at most)
DAILY = pd.Timedelta(days=3)
#: a cycle is read where the data covers it this many times
REPEATS = 2
#: the time each cycle spans: a season spanning as much places each step in it already
SPANS = {
    "hour_of_day": pd.Timedelta(days=1),
    "day_of_week": pd.Timedelta(days=7),
    "day_of_year": pd.Timedelta(days=365),
}


def cycles_for(time_kind: str, frequency: str | None, season: int, span: pd.Timedelta | None = None) -> tuple[str, ...]:
    """The cycles worth reading at this frequency: the day's for sub-daily steps, the week's and the year's for
    sub-daily and daily ones, none for weekly and coarser data or data without dates; of those, not the one the season
    already places each step in (a season of 48 half-hours is the day's cycle, one of 7 days the week's), nor one the
    data does not cover twice in ``span`` (a year of data: a day of the year seen once says which day it is, not what
    the year's cycle does; the season is read only over two seasons likewise)."""
    if time_kind != "datetime" or frequency is None:
        return ()
    times = pd.date_range("2001-01-01", periods=max(season, 3) + 1, freq=frequency)
    step = pd.Timedelta(np.median(np.diff(times.to_numpy())))
    cycles = CYCLES if step < pd.Timedelta(days=1) else CYCLES[1:] if step <= DAILY else ()
    spanned = times[season] - times[0] if season > 1 else None
    return tuple(
        cycle for cycle in cycles if spanned != SPANS[cycle] and (span is None or span >= REPEATS * SPANS[cycle])
    )


def width(cycles: Sequence[str], holidays: str | None) -> int:
    """The features :func:`features` gives: a holiday flag, and a sine and a cosine per cycle."""
    return 2 * len(cycles) + (1 if holidays else 0)


def features(cycles: Sequence[str], holidays: str | None, times: Sequence) -> np.ndarray:
    """(len(times), width) the calendar features of ``times`` (timestamps): the holiday flag, then each cycle's sine
    and cosine."""
    index = pd.DatetimeIndex(list(times))
    if index.tz is not None:  # one offset or several: the same instants read the same, whatever the file wrote
        index = index.tz_convert("UTC")
    columns = []
    if holidays:
        days = holiday_dates(holidays, sorted(set(index.year)))
        columns.append(np.isin(index.normalize().date, list(days)).astype(float) if days else np.zeros(len(index)))
    for cycle in cycles:
        phase = _phase(cycle, index)
        columns += [np.sin(2 * math.pi * phase), np.cos(2 * math.pi * phase)]
    return np.column_stack(columns) if columns else np.empty((len(index), 0))


def _phase(cycle: str, index: pd.DatetimeIndex) -> np.ndarray:
    hours = (index.hour + index.minute / 60 + index.second / 3600).to_numpy(dtype=float)
    if cycle == "hour_of_day":
        return hours / 24
    if cycle == "day_of_week":
        return (index.day_of_week.to_numpy() + hours / 24) / 7
    return (index.day_of_year.to_numpy() - 1 + hours / 24) / 365.25


def holiday_dates(code: str, years: Sequence[int]) -> set:
    """The public holidays of ``code`` (COUNTRY or COUNTRY-SUBDIVISION) in ``years``; an unknown code is refused."""
    import holidays

    country, _, subdivision = code.partition("-")
    country = country.upper()
    supported = holidays.list_supported_countries()
    if country not in supported:
        raise BadInput(
            f"--holidays {code}: the holidays package knows no country {country!r} (ISO 3166 codes, such as US, GB, AU)"
        )
    for spelling in dict.fromkeys([subdivision, subdivision.upper()]):  # "AU-vic" is Victoria's too
        try:
            return set(holidays.country_holidays(country, subdiv=spelling or None, years=list(years)))
        except (NotImplementedError, ValueError, KeyError):
            continue
    known = ", ".join(supported[country][:20]) or "none"
    raise BadInput(f"--holidays {code}: {country} has no subdivision {subdivision!r} (it has: {known})")


def check(code: str | None) -> None:
    """Refuse an unknown --holidays code before any training."""
    if code:
        holiday_dates(code, [2000])
