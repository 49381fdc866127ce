"""What a fit produces: the outcome of training, the fitted network with everything learnt with it, and the report.

Plain records, below the modules that make them (fitting, trainer) and the
ones that read them (card, model, cli), so that none of those imports
another to know their shape.
"""

from __future__ import annotations

import html
import math
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING

from forecaster.errors import listed
from forecaster.options import FitOptions

if TYPE_CHECKING:  # annotations only: the members' module imports this before numpy and pandas are needed
    import pandas as pd

    from forecaster.model.blend import Baseline, Blend
    from forecaster.model.covariates import CovariateSpec
    from forecaster.model.preparation import Preparation
    from forecaster.nn.network import Network

#: a window needs this many observed values; a series with fewer is forecast by its last value
MIN_OBSERVED = 2
#: a notebook's table of a report or a backtest shows at most this many rows (pandas' own frames show 60), so that
#: one of thousands of series stays a table to read
HTML_ROWS = 20


@dataclass(frozen=True)
class TrainOutcome:
    epochs_run: int
    best_epoch: int
    stopped_early: bool
    best_loss: float  #: the watched loss at the best epoch (a mean of its last epochs' losses per window)
    processes: int = 1  #: the processes that trained together (Lightning's world size: devices x nodes under DDP)
    timed_out: bool = False  #: stopped by the time limit before early stopping or the epochs would have stopped it


@dataclass
class FitReport:
    model_dir: str | None  #: where the model was saved; None until it is
    cell: str
    epochs_run: int
    best_epoch: int
    stopped_early: bool
    train_windows: int
    validation_windows: int
    final_epochs: int  #: of the final fit on every window (0: the network is the one validation chose)
    processes: int  #: that trained together: more than 1 under DDP
    metrics: dict  #: on validation windows, or on training windows when there are none
    metrics_on: str  #: "validation" or "training"
    chosen: list[str] = field(default_factory=list)  #: the options the data decided, and why
    fallback: list[str] = field(default_factory=list)  #: series forecast by their last value, too short to learn from
    notes: list[str] = field(default_factory=list)
    #: Theta's and exponential smoothing's weights in the forecast, the held-out errors that chose them and the
    #: windows and forecast values they rest on (training.blending.Choice); None: no held-out windows, the network alone
    blend: dict | None = None
    #: series forecast by the baseline, better on their held-out windows: the model's and its mean errors there
    baseline: dict[str, tuple[float, float]] = field(default_factory=dict)
    baseline_method: str = "seasonal naive"  #: the baseline they fall back to: "seasonal naive", or "naive"
    #: what the fallback was decided on: the series that decided alone and together, and their held-out values
    #: ("alone", "together", "alone_values", "together_values"); None: not decided (no held-out values, --no-fallback)
    fallback_evidence: dict[str, int] | None = None

    def to_json(self) -> dict:
        return asdict(self)

    def to_frame(self) -> pd.DataFrame:
        """One row per series and method (model, naive, seasonal_naive): MAE, RMSE and sMAPE on the windows of
        ``metrics_on``."""
        import pandas as pd

        return pd.DataFrame(
            [
                {"series": name, "method": method, **errors}
                for name, scores in self.metrics["series"].items()
                for method, errors in scores.items()
            ]
        )

    def __repr__(self) -> str:
        """A few lines, however many series: the training, and the model's sMAPE beside the naive forecast's (scale
        free: a pooled MAE says little over series of different units); :meth:`summary` says it all."""
        model, naive = self.metrics["model"], self.metrics["naive"]
        return "\n".join(
            [
                f"<FitReport: {self.summary().splitlines()[0]}>",
                (
                    f"  {self.metrics_on} sMAPE {percent(model['smape'])} against the naive forecast's "
                    f"{percent(naive['smape'])}, {len(self.metrics['series'])} series"
                ),
                "  .summary(): every line; .to_frame(): each series' errors",
            ]
        )

    def _repr_html_(self) -> str:
        """In a notebook: the summary's first lines, then :meth:`to_frame` as a table (its first and last rows)."""
        head = "<br>".join(html.escape(line) for line in self.summary().splitlines()[:2])
        return f"<p>{head}</p>{html_table(self.to_frame())}"

    def _baseline_line(self) -> str:
        shown = [
            f"{name!r} ({baseline:.4g} against the model's {model:.4g})"
            for name, (model, baseline) in self.baseline.items()
        ]
        return (
            f"fallback: {len(self.baseline)} of {len(self.metrics['series'])} series forecast by "
            f"{self.baseline_method}, better on their held-out windows (mean absolute error in units of each "
            f"window's level): {listed(shown)}"
        )

    def _evidence_line(self) -> str:
        """What the fallback was judged on: each series alone on its own held-out values, or together."""
        assert self.fallback_evidence is not None
        found = self.fallback_evidence
        parts = []
        if found["alone"]:
            parts.append(f"{found['alone']} series each on its own ({found['alone_values']:,} held-out values in all)")
        if found["together"]:
            parts.append(f"{found['together']} series together, on their {found['together_values']:,} held-out values")
        return f"fallback to {self.baseline_method} judged: " + "; ".join(parts or ["on no held-out values"])

    def blend_line(self) -> str:
        if self.blend is None:
            return "forecast: the network's alone (no held-out windows to weigh Theta's against it)"
        weight, smoothing = self.blend["theta_weight"], self.blend.get("ets_weight", 0.0)
        network = max(1 - weight - smoothing, 0)
        chosen = (
            f"forecast: {network:.0%} the network's, {weight:.0%} Theta's, {smoothing:.0%} exponential smoothing's, as "
            "the held-out windows chose"
        )
        if "network_error" not in self.blend:  # a report read from model.json, which keeps the weights alone
            return chosen
        return (
            f"{chosen} on {self.blend['windows']:,} of them (mean absolute error in units of each window's level: "
            f"network {self.blend['network_error']:.4g}, Theta "
            f"{self.blend['theta_error']:.4g}, exponential smoothing {self.blend['ets_error']:.4g}, blend "
            f"{self.blend['blend_error']:.4g})"
        )

    def _seasonal_scores(self, scores: dict, said: str) -> str:
        """``said`` of the seasonal naive forecast's ``scores``: nothing where the data has no season (it is the
        naive forecast) or model.json did not keep them."""
        if self.baseline_method != "seasonal naive" or "seasonal_naive" not in scores:
            return ""
        return said.format(**{name: figure(score) for name, score in scores["seasonal_naive"].items()})

    def summary(self) -> str:
        model, naive = self.metrics["model"], self.metrics["naive"]
        lines = [
            (
                f"cell {self.cell}: {self.epochs_run} epochs (best "
                f"{self.best_epoch}{', stopped early' if self.stopped_early else ''}), "
                f"{self.train_windows} training and {self.validation_windows} validation windows"
            )
            + (f", {self.processes} processes" if self.processes > 1 else "")
            + (f"; then {self.final_epochs} epochs on every window" if self.final_epochs else ""),
            (
                f"{self.metrics_on} MAE {figure(model['mae'])} RMSE {figure(model['rmse'])} "
                f"sMAPE {figure(model['smape'])}   naive (last value) MAE {figure(naive['mae'])} "
                f"RMSE {figure(naive['rmse'])} sMAPE {figure(naive['smape'])}"
            )
            + self._seasonal_scores(self.metrics, "   seasonal naive MAE {mae} RMSE {rmse} sMAPE {smape}"),
        ]
        if self.chosen:
            lines.append("chosen from the data: " + "; ".join(self.chosen))
        lines.append(self.blend_line())
        if self.fallback_evidence is not None:
            lines.append(self._evidence_line())
        if self.baseline:
            lines.append(self._baseline_line())
        series = self.metrics["series"]
        if len(series) > 1:
            width = max(len(name) for name in list(series)[:10])
            for name, scores in list(series.items())[:10]:
                lines.append(
                    f"  {name:<{width}}  MAE {figure(scores['model']['mae'])} (naive {figure(scores['naive']['mae'])}"
                    + self._seasonal_scores(scores, ", seasonal naive {mae}")
                    + ")"
                )
            if len(series) > 10:
                lines.append(f"  ... and {len(series) - 10} more series")
        lines += [f"note: {note}" for note in self.notes]
        if self.model_dir:
            lines.append(f"model written to {self.model_dir}")
        return "\n".join(lines)


@dataclass
class Fitted:
    """A trained network and everything learnt with it, not yet saved."""

    network: Network
    preparations: list[Preparation]  #: one per series, in the table's order
    options: FitOptions  #: as trained: every open option decided
    chosen: tuple[str, ...]  #: what was decided for the open options, and why
    metrics: dict
    calibration: dict  #: conformal interval widths, see forecaster.model.intervals
    outcome: TrainOutcome
    train_windows: int
    validation_windows: int
    final_epochs: int  #: of the final fit on every window; 0 when the network is the validation's
    notes: list[str]
    fallback: list[str]  #: series forecast by their last value: too short for the network
    blend: Blend  #: Theta's share of the forecast, and its states at the series' ends
    blend_choice: dict | None  #: how the held-out windows chose that share (blending.Choice); None without them
    baseline: Baseline  #: which series fall back to the baseline, and the errors that decided it
    covariates: CovariateSpec  #: what the network reads beside the series, and how each is scaled


def html_table(frame: pd.DataFrame, na_rep: str = "NaN") -> str:
    """``frame`` as a notebook shows a report's or a backtest's table: four digits, no row numbers, at most HTML_ROWS
    rows (the first and last halves, and the frame's size), however many series."""
    return frame.to_html(
        index=False,
        float_format=lambda x: f"{x:.4g}",
        na_rep=na_rep,
        max_rows=HTML_ROWS,
        show_dimensions=len(frame) > HTML_ROWS,
    )


def percent(score: float | None) -> str:
    """A percentage error (sMAPE) as a summary says it, :func:`figure`'s digits and a percent sign."""
    return f"{figure(score)}%" if score is not None and math.isfinite(score) else figure(score)


def figure(score: float | None) -> str:
    """An error as a summary says it: four digits, or in words where it is beyond float64's range (never "inf")."""
    return f"{score:.4g}" if score is not None and math.isfinite(score) else "beyond float64's range"
