"""One batch job: check its input, refit or reuse its model, forecast, and put it all in place at once.

:func:`run_job` does it in the job's own process. A dry run calls it
without a :class:`~forecaster.batch.staging.Staging`: it then checks everything
that can be checked without training or writing (the input read as the
job reads it, the guards, the levels the data can calibrate, and for a
reused model the forecast itself) and stops there.
"""

from __future__ import annotations

import datetime

from forecaster.batch.guards import check_calibration, check_feed
from forecaster.batch.jobs_file import Decision, Job
from forecaster.batch.log import job_log
from forecaster.batch.retention import prune
from forecaster.batch.staging import Staging
from forecaster.batch.summary import JobResult, training_figures
from forecaster.data import limits
from forecaster.errors import BadInput, ForecasterWarning
from forecaster.model.card import Card
from forecaster.model.directory import previous_model, read_card, refuse_unreplaceable
from forecaster.nn.registry import Registry
from forecaster.runtime import warned
from forecaster.runtime.files import write_atomic


def run_job(
    job: Job, decision: Decision, result: JobResult, registry: Registry, now: datetime.datetime, staging: Staging | None
) -> None:
    """Do ``job`` as ``decision`` says, recording in ``result``; with ``staging`` None, rehearse it; its input and
    model read within its limits."""
    with limits.applied(job.limits):
        _run(job, decision, result, registry, now, staging)


def _run(
    job: Job, decision: Decision, result: JobResult, registry: Registry, now: datetime.datetime, staging: Staging | None
) -> None:
    from forecaster.model.trained import Model
    from forecaster.training.backtest import fold_origins
    from forecaster.training.pipeline import fit, prepare, read_table

    saved = _saved(job)
    backtested = None  #: what the summary says of a refit's backtest
    if decision.refit:
        cell = registry.get(job.options.cell)
        refuse_unreplaceable(job.model, "key 'model'")
        table = read_table(job.input, job.options)
        result.checks += check_feed(job, table, saved, now, refit=True) + check_calibration(job, table)
        if staging is None:  # all that the fit refuses before training: the horizon against the rows, the season...
            prepare(table, job.options, cell)
            if job.backtest is not None:
                fold_origins(table, job.options.horizon, job.folds, job.step)
            return
        job_log(job.name).info("fitting %s on %s", job.model, job.input)
        model, _ = fit(job.input, job.options, registry)
        with staging.named_as_targets():
            model.save(staging.model(job.model))
        backtested = _backtest(job, registry, staging) if job.backtest is not None else None
    else:  # its input's header was checked by decide, before the model is loaded
        model = Model.load(job.model, registry)
    table = model.read_recent(job.input)
    if not decision.refit:
        result.checks += check_feed(job, table, saved, now, refit=False)
    result.input_rows = len(table.values)
    with warned.taken(ForecasterWarning) as cautions:  # a horizon past the trained one: a note of the job's
        predicted = model.forecast(job.options.horizon, job.levels, table)
    result.notes, result.training = [*predicted.notes, *cautions], training_figures(model.card)
    if staging is None:
        return
    with staging.named_as_targets():
        write_atomic(staging.file(job.output, "output"), predicted.to_csv(), "key 'output'")
        if job.latest is not None:
            staging.link(job.latest, job.output)
    replaces_a_model = decision.refit and job.model.exists()
    staging.commit()
    result.output, result.latest = str(job.output), str(job.latest) if job.latest else None
    result.backtest = backtested
    if replaces_a_model:
        result.previous_model = str(previous_model(job.model))


def _backtest(job: Job, registry: Registry, staging: Staging) -> dict:
    """A refit's backtest: its forecasts (the cross-validation frame) staged to be put in place with the job's other
    files; returns what the summary says of it."""
    from forecaster.training.backtest import backtest_data

    assert job.backtest is not None  # called for a job that backtests
    job_log(job.name).info("backtesting on %s: %d folds", job.input, job.folds)
    found, _ = backtest_data(job.input, job.options, registry, job.folds, job.step, job.levels)
    with staging.named_as_targets():
        write_atomic(staging.file(job.backtest, "backtest"), found.forecasts_csv(), "key 'backtest'")
    return {"forecasts": str(job.backtest), **found.headline()}


def clean_up(job: Job, result: JobResult, now: datetime.datetime) -> None:
    """After a success: delete the forecasts of other dates that the job's ``keep`` does not keep."""
    if job.keep is None or job.history is None:  # set together
        return
    try:
        result.removed = [str(path) for path in prune(job.keep, job.history, now, job.output)]
    except OSError as exc:  # the job's work is done and in place: a forecast left over is a note, not a failure
        result.notes.append(f"could not delete an older forecast ({exc})")


def _saved(job: Job) -> Card | None:
    """The card of the model in place, for the guards; None when there is no usable one."""
    try:
        return read_card(job.model)
    except BadInput:
        return None
