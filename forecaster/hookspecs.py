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
    """The callback :func:`register_cells` receives; the host's, so a plugin never builds a registry itself."""

    def __call__(self, name: str, builder: object, description: str) -> None: ...


@hookspec
def register_cells(register: Register) -> None:
    """Register recurrent cells by calling ``register`` once per cell.

    ``register(name, builder, description)``: ``name`` is what users pass to
    ``--cell`` (letters, digits, ``.``, ``_`` and ``-``, not first); ``builder``
    is called as ``builder(input_size=..., hidden_size=...)`` and returns a
    ``torch.nn.Module`` that follows the cell contract (see docs/plugins.md),
    or is a ``"package.module:attribute"`` string naming such a callable, so
    that listing cells does not import torch; ``description`` is one line.
    A name already taken (built-in cells first, then distributions in
    alphabetical order) is refused and reported; the plugin's other cells stay.
    """
