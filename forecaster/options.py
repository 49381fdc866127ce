"""The options of `fit`, with their defaults in one place.

Kept free of heavy imports: the CLI reads these defaults to build its
``--help`` without loading pandas, torch or Lightning.
"""

from __future__ import annotations

import datetime
import math
import numbers
import os
import re
import types
import typing
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, SupportsFloat, SupportsIndex, TypedDict, TypeGuard, TypeVar

from forecaster.errors import BadInput, shown

SCALERS = ("standard", "minmax", "robust", "none")
FILL_POLICIES = ("error", "interpolate", "ffill", "drop")
#: Lightning strategies fit offers: "auto" is one process, or one per device when --devices asks for
#: several; "ddp" is one process per device on every node (docs/scaling.md)
STRATEGIES = ("auto", "ddp")
#: other names of fit options, as the command line and the jobs file accept them
ALIASES = {"time_col": "date_col"}
#: a backtest's rolling origins when none are asked for: the command line's, Python's and a batch job's
DEFAULT_FOLDS = 3
#: numpy's seeds, which Lightning's seed_everything passes on
MAX_SEED = 2**32 - 1
#: a duration's units: "90s", "30m", "12h", "7d"
DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
#: the most steps a window, a horizon or a season spans: a cell unrolled over more (a year of minutes is 525,600)
#: is no forecaster's, and a model.json claiming more would have predict allocate (series x steps) arrays for it
MAX_STEPS = 1_000_000
#: the largest learning rate: the largest 32-bit float, in which the network trains (beyond it, a step is infinite)
MAX_LR = 3.4028234663852886e38
#: the longest duration anything takes (refit's older-than, max_age, keep, timeouts): ten years
MAX_DURATION = datetime.timedelta(days=3650)


@dataclass(frozen=True)
class FitOptions:
    cell: str = "lstm"
    window: int | None = (
        None  #: None: chosen from the season, the horizon and the series' lengths (forecaster.training.defaults)
    )
    horizon: int = 7
    season: int | None = None  #: None: the frequency's natural season (forecaster.data.seasons.natural_season)
    hidden_size: int = 32
    members: int = 3  #: networks trained side by side; the forecast is their median
    fallback: bool = True  #: a series whose held-out windows seasonal naive forecasts better is forecast by it
    threads: int | None = None  #: processes that train members at once; None: this machine's cores
    time_limit: float | None = None  #: seconds a fit may train for; None: no limit
    epochs: int | None = None  #: None: 100, or more on tiny data (forecaster.training.defaults)
    lr: float = 0.01
    batch_size: int | None = None  #: None: chosen from the number of windows (forecaster.training.defaults)
    seed: int = 42
    scaler: str = "standard"
    patience: int | None = None  #: None: about 1,000 optimiser steps, 10 to 30 epochs (forecaster.training.defaults)
    gradient_clip: float = 1.0
    accelerator: str = "auto"
    devices: str = "auto"
    strategy: str = "auto"
    num_nodes: int = 1
    date_col: str | None = None
    targets: tuple[str, ...] = ()
    fill: str = "error"
    id_col: str | None = None
    value_col: str | None = None
    past: tuple[str, ...] = ()  #: covariates known up to the forecast origin only (docs/covariates.md)
    future: tuple[str, ...] = ()  #: covariates known for the horizon too
    static: tuple[str, ...] = ()  #: a long file's per-series constants: a store's region, a product's category
    calendar: bool = True  #: hour of day, day of week and day of year for sub-daily and daily data
    holidays: str | None = None  #: a country's public holidays, COUNTRY or COUNTRY-SUBDIVISION ("AU-VIC")
    freq: str | None = None  #: the time axis' step, a pandas offset alias ("MS") or an integer; None: inferred

    def check(self) -> None:
        """Refuse impossible values before any data is read."""
        for option in (
            "window",
            "horizon",
            "season",
            "hidden_size",
            "members",
            "batch_size",
            "patience",
            "num_nodes",
            "epochs",
            "threads",
        ):
            value = getattr(self, option)
            if value is not None and value < 1:
                raise BadInput(f"--{option.replace('_', '-')} must be at least 1, not {value}")
        for option in ("window", "horizon", "season"):
            value = getattr(self, option)
            if value is not None and value > MAX_STEPS:
                raise BadInput(f"--{option} must be at most {MAX_STEPS:,} steps, not {value}")
        if self.time_limit is not None and not (self.time_limit > 0 and math.isfinite(self.time_limit)):
            raise BadInput(f"--time-limit must be a positive number of seconds, not {self.time_limit}")
        if not 0 < self.lr <= MAX_LR:
            raise BadInput(
                f"--lr must be a positive number of at most {MAX_LR:.3g} (the network's floats), not {self.lr}"
            )
        if not (self.gradient_clip >= 0 and math.isfinite(self.gradient_clip)):
            raise BadInput(f"--gradient-clip must be a number of at least 0 (0: no clipping), not {self.gradient_clip}")
        if not 0 <= self.seed <= MAX_SEED:
            raise BadInput(f"--seed must be between 0 and {MAX_SEED}, not {self.seed}")
        if self.fill not in FILL_POLICIES:
            raise BadInput(f"unknown policy {shown(self.fill)} (--fill); choose from {', '.join(FILL_POLICIES)}")
        if self.scaler not in SCALERS:
            raise BadInput(f"unknown scaler {shown(self.scaler)} (--scaler); choose from {', '.join(SCALERS)}")
        self._check_covariates()
        self._check_freq()
        if self.strategy not in STRATEGIES:
            raise BadInput(f"unknown strategy {shown(self.strategy)} (--strategy); choose from {', '.join(STRATEGIES)}")
        self._check_torchrun()

    def _check_torchrun(self) -> None:
        """Under torchrun the processes are started already: --devices x --num-nodes must be as many, or no rank
        trains; said before each rank reads the data and imports Lightning, which would say the same much later."""
        world = os.environ.get("WORLD_SIZE", "")
        if "TORCHELASTIC_RUN_ID" not in os.environ or not world.isdigit() or not self.devices.isdigit():
            return
        if int(self.devices) * self.num_nodes != int(world):
            raise BadInput(
                f"--devices {self.devices} x --num-nodes {self.num_nodes} does not match the world size ({world}) "
                "that torchrun started"
            )

    def _check_freq(self) -> None:
        """A step pandas knows (its offset aliases: D, W-SUN, MS, h, 15min...) or a whole step of an integer axis;
        whether the data's times lie on it is the table's to say."""
        if self.freq is None or (self.freq.isdigit() and int(self.freq) >= 1):
            return
        from pandas.tseries.frequencies import to_offset

        try:
            to_offset(self.freq)
        except ValueError:
            raise BadInput(
                f"--freq {shown(self.freq)} is neither a frequency pandas knows (D, W-SUN, MS, QS, h, 15min...) nor "
                "a whole step of an integer time axis"
            ) from None

    def _check_covariates(self) -> None:
        """A column is one thing: a target, or a covariate of one kind; statics belong to a long file's series."""
        seen: dict[str, str] = {}
        for kind in COVARIATE_KINDS:
            for column in getattr(self, kind):
                if column in seen:
                    raise BadInput(f"column {shown(column)} is given as --{seen[column]} and as --{kind}: choose one")
                seen[column] = kind
        for column in self.targets:
            if column in seen and self.id_col is None:
                raise BadInput(f"column {shown(column)} is a --target and a --{seen[column]} covariate: choose one")
        for column in (self.date_col, self.id_col, self.value_col):
            if column is not None and column in seen:
                raise BadInput(
                    f"column {shown(column)} is a --{seen[column]} covariate and the file's time, id or value"
                )
        if self.static and self.id_col is None:
            raise BadInput("--static needs a long file (--id-col): in a wide file every column is a series' own")
        if self.holidays is not None and not re.fullmatch(r"[A-Za-z]{2,3}(-[A-Za-z0-9 ]{1,40})?", self.holidays):
            raise BadInput(
                f"--holidays takes a country code and an optional subdivision, such as US, GB or AU-VIC, not "
                f"{shown(self.holidays)}"
            )


#: the kinds of covariate, as options and model.json name them
COVARIATE_KINDS = ("past", "future", "static")

#: each fit option's type hint: Python keywords, jobs-file keys and model.json's "requested" are checked against it
OPTION_TYPES: dict[str, Any] = typing.get_type_hints(FitOptions)

Integer = SupportsIndex  #: an int, or numpy's: what an integer option takes from Python
Number = SupportsFloat  #: a float or an int, or numpy's
Names = str | Sequence[str]  #: one column or id, or several


class FitKeywords(TypedDict, total=False):
    """fit's and backtest's options as Python keywords (``**options: Unpack[FitKeywords]``): a type checker refuses a
    misspelt or mistyped one, as fit does when it runs. FitOptions' fields, with ``time_col`` and ``target``, the
    command line's other names, and the values Python gives them: numpy's numbers, one name for several."""

    cell: str
    window: Integer | None
    horizon: Integer
    season: Integer | None
    hidden_size: Integer
    members: Integer
    fallback: bool
    threads: Integer | None
    time_limit: Number | None
    epochs: Integer | None
    lr: Number
    batch_size: Integer | None
    seed: Integer
    scaler: Literal["standard", "minmax", "robust", "none"]
    patience: Integer | None
    gradient_clip: Number
    accelerator: str
    devices: str
    strategy: Literal["auto", "ddp"]
    num_nodes: Integer
    date_col: str | None
    time_col: str | None
    targets: Names
    target: Names
    fill: Literal["error", "interpolate", "ffill", "drop"]
    id_col: str | None
    value_col: str | None
    past: Names
    future: Names
    static: Names
    calendar: bool
    holidays: str | None
    freq: str | None


T = TypeVar("T")
#: how errors name the types a value may have (a jobs file's TOML words: a table, an array)
TYPE_NAMES = {
    str: "a string",
    int: "an integer",
    float: "a number",
    bool: "true or false",
    dict: "a table",
    list: "an array",
}


def typed(value: object, kind: Any, where: str) -> object:  # kind: a type hint, a class or not
    """``value`` checked to be of the type hint ``kind`` (an int where a float is asked for becomes one, a list where
    a tuple is, a tuple); else a :class:`BadInput` that starts with ``where``: the one type check of an option given
    as a Python keyword or a jobs file's key (the command line's are click's)."""
    if isinstance(kind, types.UnionType):  # "int | None" takes an int or None (TOML has no null); "int | str" either
        if value is None and type(None) in typing.get_args(kind):
            return None
        kinds = [arg for arg in typing.get_args(kind) if arg is not type(None)]
        if len(kinds) > 1:
            if not any(_is(value, each) for each in kinds):
                raise BadInput(f"{where} must be {' or '.join(TYPE_NAMES[each] for each in kinds)}, not {shown(value)}")
            return value
        kind = kinds[0]
    if typing.get_origin(kind) is tuple:
        if not isinstance(value, (list, tuple)):
            raise BadInput(f"{where} must be an array, not {shown(value)}")
        return tuple(typed(item, typing.get_args(kind)[0], where) for item in value)
    if kind in NUMBERS and _is(value, NUMBERS[kind]):
        return kind(value)
    if not _is(value, kind):
        raise BadInput(f"{where} must be {TYPE_NAMES.get(kind, kind)}, not {shown(value)}")
    return value


def whole(value: object, where: str) -> int:
    """:func:`typed` of an integer option: ``value`` as a Python int, or a :class:`BadInput` starting with
    ``where``."""
    checked = typed(value, int, where)
    assert isinstance(checked, int)
    return checked


#: the numbers an int or a float option takes (numpy's among them, as the numbers module registers them), made
#: Python's: np.int64(12) is 12
NUMBERS: dict[type, type] = {int: numbers.Integral, float: numbers.Real}


def _is(value: object, kind: type[T]) -> TypeGuard[T]:
    """isinstance, except that true and false are not integers."""
    return isinstance(value, kind) and (kind is bool or not isinstance(value, bool))


def parse_duration(text: str, name: str) -> datetime.timedelta:
    """ "90s", "30m", "12h" or "7d" as a timedelta, between a second and :data:`MAX_DURATION`.

    The one definition of a duration for every option and key that takes
    one; ``name`` (an option or a key) names it in the error.
    """
    match = re.fullmatch(r"(\d{1,12})([smhd])", text.strip())
    if not match:
        raise BadInput(f"{name} must be a duration such as 90s, 30m, 12h or 7d, not {shown(text)}")
    seconds = int(match[1]) * DURATION_UNITS[match[2]]
    if not 0 < seconds <= MAX_DURATION.total_seconds():
        raise BadInput(f"{name} must be longer than 0 and at most {MAX_DURATION.days}d, not {shown(text)}")
    return datetime.timedelta(seconds=seconds)


def format_duration(duration: datetime.timedelta) -> str:
    """A duration as :func:`parse_duration` reads it, in its largest whole unit: 7d, 36h, 90s."""
    seconds = int(duration.total_seconds())
    unit = next(unit for unit, size in sorted(DURATION_UNITS.items(), key=lambda item: -item[1]) if seconds % size == 0)
    return f"{seconds // DURATION_UNITS[unit]}{unit}"
