"""The hooks a forecaster plugin may implement.

A plugin is a module (usually found through the ``forecaster`` entry-point
group) with functions decorated by :data:`hookimpl` and named after a hook
below.
"""

from __future__ import annotations

from typing import Protocol

import pluggy

hookspec = pluggy.HookspecMarker("forecaster")
hookimpl = pluggy.HookimplMarker("forecaster")


class Register(Protocol):
    def __call__(self, name: str, builder: object, description: str) -> None: ...


@hookspec
def register_cells(register: Register) -> None:
    """Register recurrent cells by calling ``register`` once per cell.

    ``register(name, builder, description)``: ``name`` is what users pass to
    ``--cell``; ``builder`` is a callable ``builder(input_size, hidden_size)``
    returning a ``torch.nn.Module`` that follows the cell contract (see
    docs/plugins.md), or a ``"package.module:attribute"`` string naming one, so
    that listing cells does not import torch; ``description`` is one line.
    """
