"""The members of an ensemble, each trained on its own from a seed of its own, in parallel processes where the
machine has cores for them.

A member's gradients never depended on the others' (the loss is the mean of
the members' losses), so training each alone changes nothing but what early
stopping watches: a member's own validation error rather than the
ensemble's, as N-BEATS trains its ensemble. What it buys is a second core:
the workers are forked from a fork server (:func:`start_workers`, started as
a fit begins, so that its imports of torch and Lightning overlap the
reading of the data), never from this process, whose OpenMP threads a fork
would leave its child waiting for; each works on one thread (the reason for
:func:`forecaster.runtime.threads.one_thread` stays true: no process spins
threads against another). Member k always starts from ``seed + k``, so the
model is the same whatever the number of processes, ``--threads 1``
included.

Several processes that Lightning itself starts (``--strategy ddp``) train the
whole ensemble as one network instead: they must take part in every
training together.

Each member's network is trained on the validation split, with early
stopping, and then trained on, warm, on every window (its held-out last
values too) for a share of the steps that validation found best, the
learning rate annealed to nothing (docs/design.md, "Fitting, step by step").
"""

from __future__ import annotations

import contextlib
import copy
import math
import multiprocessing
import os
import pickle
import signal
import statistics
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, replace
from multiprocessing import forkserver
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from typing import TYPE_CHECKING

from forecaster.errors import ForecasterError, TrainingFailed
from forecaster.model.fit_result import TrainOutcome
from forecaster.options import FitOptions
from forecaster.runtime import progress, warned
from forecaster.runtime.processes import END_WITH_VARIABLE, end_with

if TYPE_CHECKING:  # torch and Lightning are imported when training, so that start_workers comes first
    from forecaster.nn.network import Network
    from forecaster.nn.registry import RegisteredCell
    from forecaster.training.settings import TrainSettings
    from forecaster.training.windows import Windows

#: the warm final fit trains this share of the optimiser steps that validation found best, and at least
#: WARM_MIN_STEPS: enough to learn each series' last values, far fewer than training anew (bench/competitions.md)
WARM_SHARE = 0.25
WARM_MIN_STEPS = 100
#: under a time limit, the share of each member's time that the validated training may take; the rest is its final
#: fit's
VALIDATED_SHARE = 0.75
#: a member needs at least this many seconds of a time limit; fewer members are trained when the limit is shorter
MIN_MEMBER_SECONDS = 2.0


#: the most processes that share a core when members outnumber the cores (see :func:`workers`)
PROCESSES_PER_CORE = 2

#: what the fork server imports once, so that each worker it forks starts training at once
PRELOAD = ["forecaster.training.fork_server", "forecaster.training.members", "forecaster.training.trainer"]
_CONTEXT = multiprocessing.get_context("forkserver")


def start_workers(workers: int) -> None:
    """Start the fork server the workers come from, if more than one will train: its imports run beside the fit's
    reading and preparing of the data."""
    if workers > 1:
        _CONTEXT.set_forkserver_preload(PRELOAD)
        # the server starts with SIGINT ignored (a disposition it inherits): a Ctrl-C is the fit's to handle, not a
        # traceback from the server's imports, which it would otherwise be in; held back meanwhile, not lost
        blocked = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
        # only the main thread may set a handler: a fit started from another thread leaves the disposition as it is
        main_thread = threading.current_thread() is threading.main_thread()
        handler = signal.signal(signal.SIGINT, signal.SIG_IGN) if main_thread else None
        # the server is `python -c`, whose sys.path starts with the working directory (Python 3.11 does not hand it
        # this process's path): a folder named forecaster there, another checkout say, would be what the workers
        # import; PYTHONSAFEPATH leaves the working directory out. The server ends with this process
        # (END_WITH_VARIABLE) when started from the main thread: the kernel's signal at a parent's death comes when
        # the thread that started the child ends, and another thread's end would kill a server later fits still use
        variables = {"PYTHONSAFEPATH": "1", **({END_WITH_VARIABLE: str(os.getpid())} if main_thread else {})}
        try:
            with _environment(variables):
                forkserver.ensure_running()
        finally:
            if main_thread:
                signal.signal(signal.SIGINT, handler)
            signal.pthread_sigmask(signal.SIG_SETMASK, blocked)


@contextlib.contextmanager
def _environment(variables: dict[str, str]) -> Iterator[None]:
    """This process's environment with ``variables`` set, for a child started meanwhile; as it was afterwards."""
    kept = {name: os.environ.get(name) for name in variables}
    os.environ.update(variables)
    try:
        yield
    finally:
        for name, value in kept.items():
            if value is None:
                del os.environ[name]
            else:
                os.environ[name] = value


def cores(options: FitOptions) -> frozenset[int]:
    """The cores training may use: the first ``--threads`` of those this process may run on (its affinity, not the
    machine's count: a container or taskset may say less), or all of them."""
    allowed = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else list(range(os.cpu_count() or 1))
    return frozenset(allowed[: options.threads or len(allowed)])


def workers(options: FitOptions) -> int:
    """The processes that train members at once: one a member, at most PROCESSES_PER_CORE a core, where there is
    more than one core; none but this one where there is one.

    Members that each had a core of their own while others waited for one
    would leave cores idle: three members on two cores trained two at a time
    kept one core idle while the third trained alone (stock.csv: its last 8 s of 30).
    As many processes as members share the cores instead, the kernel giving
    each its turn, until the last one ends. Each runs one thread, as ever, so
    none of them spins waiting for another.
    """
    return processes(options.members, len(cores(options)))


def processes(members: int, cores: int) -> int:
    """:func:`workers` for ``members`` members on ``cores`` cores."""
    return 1 if cores == 1 else max(1, min(members, PROCESSES_PER_CORE * cores))


@dataclass(frozen=True)
class Plan:
    """What every member trains on: forked workers inherit it rather than receive a copy."""

    cell: RegisteredCell
    hidden_size: int
    horizon: int
    season: int
    seed: int
    training: Windows
    validation: Windows | None
    every: Windows  #: every window, for the final fit
    settings: TrainSettings
    final_batches: int  #: optimiser steps per epoch of the final fit
    extra: tuple[int, int, int] = (0, 0, 0)  #: covariate features (forecaster.nn.network.Extra)


@dataclass(frozen=True)
class Trained:
    """One group of members: as validation left it, and after its final fit (the same network where there was
    none)."""

    validated: Network
    final: Network
    outcome: TrainOutcome
    final_epochs: int


@dataclass(frozen=True)
class Ensemble:
    """The trained members as one network, as validation chose them (what the held-out windows score and calibrate)
    and after the final fit (what forecasts), what their trainings did, and what the time limit took."""

    validated: Network
    network: Network
    outcome: TrainOutcome  #: the members' trainings summed up (see :func:`_combined`)
    final_epochs: int  #: the most any member's final fit ran
    notes: list[str]


def train_ensemble(plan: Plan, members: int, cores: frozenset[int], time_limit: float | None) -> Ensemble:
    """Train ``members`` members on ``cores`` (one: in this process), within ``time_limit`` seconds if set."""
    notes = []
    workers = processes(members, len(cores))
    if plan.settings.several_processes:  # Lightning's own processes: the ensemble trains together, once
        groups, workers = [(0, members)], 1
    else:
        groups = [(member, 1) for member in range(members)]
    if not plan.settings.on_this_cpu:  # a forked process must not inherit a device's state
        workers = 1
    workers = max(1, min(workers, len(groups)))
    rounds = math.ceil(len(groups) / workers)
    settings = plan.settings
    if time_limit is not None:
        fitting = math.floor(min(workers, len(cores)) * time_limit / MIN_MEMBER_SECONDS)
        if len(groups) > 1 and fitting < len(groups):
            kept = max(1, fitting)
            notes.append(
                f"time limit ({time_limit:.3g} s left to train): {kept} of {members} members trained, each needs "
                f"at least {MIN_MEMBER_SECONDS:g} s"
            )
            groups, rounds = groups[:kept], math.ceil(kept / workers)
        share = time_limit / rounds
        settings = replace(settings, max_seconds=share * (VALIDATED_SHARE if plan.validation is not None else 1.0))
    plan = replace(plan, settings=settings)
    final_seconds = None if time_limit is None else time_limit / rounds - (settings.max_seconds or 0)
    if workers > 1 and not _sendable(plan.cell):
        notes.append(f"{plan.cell.origin}: its builder cannot be sent to another process; the members trained here")
        workers = 1
    if workers == 1:
        trained = [_train_group(plan, first, count, final_seconds) for first, count in groups]
    else:
        trained = _in_processes(plan, groups, workers, cores, final_seconds)
    outcomes = [group.outcome for group in trained]
    finals = [group.final_epochs for group in trained]
    if len(trained) > 1:
        notes.append(
            f"{len(trained)} members trained one by one"
            + (f" on {workers} processes" if workers > 1 else "")
            + f": epochs {'/'.join(str(o.epochs_run) for o in outcomes)} "
            + f"(best {'/'.join(str(o.best_epoch) for o in outcomes)})"
            + (f", then {'/'.join(map(str, finals))} on every window" if any(finals) else "")
        )
    timed_out = sum(outcome.timed_out for outcome in outcomes)
    if timed_out:
        notes.append(
            f"time limit ({time_limit:.3g} s left to train): the training of {timed_out} of {len(outcomes)} members "
            "was stopped by it before early stopping would have ended it"
        )
    validated = _joined([group.validated for group in trained], plan)
    final = _joined([group.final for group in trained], plan)
    return Ensemble(validated, final, _combined(outcomes), max(finals), notes)


def _joined(groups: list[Network], plan: Plan) -> Network:
    """The groups' members as one network, in the order of their seeds."""
    from forecaster.nn.network import Network

    network = Network(
        [cell for group in groups for cell in group.cells], plan.hidden_size, plan.horizon, plan.season, plan.extra
    )
    for part in ("heads", "decoders") if plan.extra[1] else ("heads",):
        trained = (module for group in groups for module in getattr(group, part))
        for module, weights in zip(getattr(network, part), trained, strict=True):
            module.load_state_dict(weights.state_dict())
    return network


def _sendable(cell: RegisteredCell) -> bool:
    """Whether a worker can receive the cell: its builder named as "module:attribute", or importable by its name, and
    not from the script that runs the fit (``__main__``), which workers do not import (:func:`_main_not_imported`)."""
    builder = cell.builder
    module = builder.split(":")[0] if isinstance(builder, str) else getattr(builder, "__module__", None)
    if module == "__main__":
        return False
    try:
        pickle.dumps(cell)
    except (pickle.PicklingError, AttributeError, TypeError):
        return False
    return True


@contextlib.contextmanager
def _main_not_imported() -> Iterator[None]:
    """While workers start, the script that called fit hidden from multiprocessing, which would otherwise import it
    again in each (``__mp_main__``), running its top level (a second fit in every worker) unless the script guards it
    with ``if __name__ == "__main__"``; the workers need nothing of it."""
    main = sys.modules.get("__main__")
    if main is None or not hasattr(main, "__file__"):  # an interactive session, a notebook: nothing to import again
        yield
        return
    path, spec = main.__file__, main.__spec__
    del main.__file__
    main.__spec__ = None  # multiprocessing reads the spec first, then the file; with neither it imports nothing
    try:
        yield
    finally:
        main.__file__, main.__spec__ = path, spec


def _combined(outcomes: list[TrainOutcome]) -> TrainOutcome:
    """One outcome for the summary and model.json: the longest training, the median best epoch, early stopping only
    where every member stopped early."""
    return TrainOutcome(
        epochs_run=max(outcome.epochs_run for outcome in outcomes),
        best_epoch=round(statistics.median(outcome.best_epoch for outcome in outcomes)),
        stopped_early=all(outcome.stopped_early for outcome in outcomes),
        best_loss=statistics.fmean(outcome.best_loss for outcome in outcomes),
        processes=max(outcome.processes for outcome in outcomes),
        timed_out=any(outcome.timed_out for outcome in outcomes),
    )


def _train_group(plan: Plan, first: int, count: int, final_seconds: float | None) -> Trained:
    """Members ``first`` to ``first + count``, from seed ``plan.seed + first``: the validated training, then the
    warm final fit on every window (not under several processes, which train once)."""
    from forecaster.nn.network import build_network
    from forecaster.training import trainer

    trainer.seed_everything(plan.seed + first)
    network = build_network(plan.cell, plan.hidden_size, plan.horizon, plan.season, count, plan.extra)
    settings = plan.settings
    outcome = trainer.train(network, plan.training, plan.validation, settings)
    validated, final_epochs = network, 0
    if plan.validation is not None and outcome.processes == 1:
        network = copy.deepcopy(validated)
        best_steps = outcome.best_epoch * (settings.batches_per_epoch or 1)
        steps = max(WARM_MIN_STEPS, math.ceil(WARM_SHARE * best_steps))
        final_epochs = min(math.ceil(steps / plan.final_batches), settings.epochs)
        trainer.train(
            network,
            plan.every,
            None,
            replace(
                settings,
                epochs=final_epochs,
                annealed=True,
                batches_per_epoch=plan.final_batches,
                max_seconds=final_seconds,
            ),
        )
    return Trained(validated, network, outcome, final_epochs)


def _in_processes(
    plan: Plan, groups: list[tuple[int, int]], workers: int, cores: frozenset[int], final_seconds: float | None
) -> list[Trained]:
    """Each group trained in one of ``workers`` processes, worker ``w`` taking groups ``w``, ``w + workers``...; the
    plan goes to each once, pickled (the windows as numpy arrays, the cell by its builder's name), and the weights
    come back as safetensors bytes."""
    from safetensors.torch import load as load_tensors

    from forecaster.nn.network import build_network

    # a cell that breaks the contract is named now, not by a worker once it has imported Lightning to build it
    build_network(plan.cell, plan.hidden_size, plan.horizon, plan.season, 1, plan.extra)
    start_workers(workers)
    results = _trained_in_workers(plan, [groups[worker::workers] for worker in range(workers)], cores, final_seconds)
    trained = []
    for first, count in groups:
        validated, final, outcome, final_epochs, cautions = results[first]
        warned.replay(cautions)
        networks = []
        for weights in (validated, final):
            networks.append(build_network(plan.cell, plan.hidden_size, plan.horizon, plan.season, count, plan.extra))
            networks[-1].load_state_dict(load_tensors(weights))
        trained.append(Trained(networks[0], networks[1], outcome, final_epochs))
    return trained


#: what a worker sends back for a group: its weights as validated and after the final fit (safetensors), its outcome,
#: the final fit's epochs, and the warnings it raised
GroupResult = tuple[bytes, bytes, TrainOutcome, int, list[warned.Caution]]


def _trained_in_workers(
    plan: Plan, shares: list[list[tuple[int, int]]], cores: frozenset[int], final_seconds: float | None
) -> dict[int, GroupResult]:
    """Each share of the groups trained by a worker process of its own, forked by the fork server; the results by
    each group's first member.

    A worker is a plain process with a pipe back, not a pool: a pool's queues
    hold named semaphores (under /dev/shm) for as long as it lives, and a fit
    killed with SIGKILL left them to multiprocessing's resource tracker, which
    removed them and printed its "leaked semaphore objects" warning, with its
    own file's path, under the fit's output. A pipe is a file descriptor, which
    the kernel closes with the process that held it.
    """
    processes: dict[Connection, tuple[BaseProcess, list[tuple[int, int]]]] = {}  #: each worker's pipe, its groups
    results: dict[int, GroupResult] = {}
    try:
        with _main_not_imported():  # each worker is sent the process object, which would import the script again
            for share in shares:
                receiving, sending = _CONTEXT.Pipe(duplex=False)
                process: BaseProcess = _CONTEXT.Process(
                    target=_worker, args=(plan, os.getpid(), cores, share, final_seconds, sending), daemon=True
                )
                process.start()
                sending.close()  # the worker's alone, so that the pipe ends when the worker does
                processes[receiving] = (process, share)
        waiting = dict(processes)
        while waiting:
            for ready in wait(list(waiting)):  # a result at a time, from whichever worker sent one
                assert isinstance(ready, Connection), "wait returns what it is given"
                try:
                    message = ready.recv()
                except EOFError:  # the worker has ended
                    _refuse_missing(results, *waiting.pop(ready))
                    continue
                if isinstance(message, progress.Steps):  # its training's steps, for the fit's bar
                    progress.shown(message)
                    continue
                first, result = message
                if isinstance(result, BaseException):
                    raise result
                results[first] = result
    finally:  # on the way out of an error or a signal, workers are killed rather than left training
        for connection, (process, _) in processes.items():
            if process.exitcode is None:
                process.kill()
            process.join()
            connection.close()
    return results


def _refuse_missing(results: dict[int, GroupResult], process: BaseProcess, share: list[tuple[int, int]]) -> None:
    """A worker that ended without sending every result of its share (killed, say, for memory), said as such."""
    missing = [first + 1 for first, _ in share if first not in results]  # counted from 1, as a reader counts
    if missing:
        process.join()
        code = process.exitcode or 0
        ended = f"was killed by {signal.Signals(-code).name}" if code < 0 else f"ended with exit code {code}"
        several = len(missing) > 1
        raise TrainingFailed(
            f"the process training member{'s' * several} {', '.join(map(str, missing))} {ended} before sending "
            f"{'their' if several else 'its'} weights"
        )


def _worker(
    plan: Plan,
    fit: int,
    cores: frozenset[int],
    share: list[tuple[int, int]],
    final_seconds: float | None,
    results: Connection,
) -> None:
    """A worker runs on the fit's ``cores`` only, leaves signals to the fit (process ``fit``), which kills it on the
    way out, and ends as soon as the fit is gone, however it went: killed with SIGKILL, it could not say so, and the
    worker's parent is the fork server. It trains its share of the groups and sends each one's result, or the
    failure that stopped it; its trainings' steps go to the fit too, as they are taken, for its bar."""
    if hasattr(os, "sched_setaffinity") and os.sched_getaffinity(0) != cores:  # --threads chose fewer
        os.sched_setaffinity(0, cores)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    end_with(fit)
    progress.send_to(results.send)
    first = None
    try:
        for first, count in share:
            results.send((first, _worker_train(plan, first, count, final_seconds)))
    except Exception as exc:
        try:
            results.send((first, exc))
        except Exception:  # an exception that cannot be pickled: its words
            results.send((first, ForecasterError(f"training member {first} failed: {type(exc).__name__}: {exc}")))


def _worker_train(plan: Plan, first: int, count: int, final_seconds: float | None) -> GroupResult:
    """In a worker: train the group, and send back its weights as safetensors (tensors only, no pickled code), and
    the warnings it raised, for the fit to say."""
    from safetensors.torch import save as save_tensors

    with warned.recorded() as cautions:
        group = _train_group(plan, first, count, final_seconds)
    validated, final = (
        save_tensors({name: tensor.contiguous() for name, tensor in network.state_dict().items()})
        for network in (group.validated, group.final)
    )
    return validated, final, group.outcome, group.final_epochs, cautions
