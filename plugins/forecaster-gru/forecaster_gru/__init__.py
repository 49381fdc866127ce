"""forecaster-gru: adds the ``gru`` cell to forecaster.

forecaster loads this module through the entry point in setup.cfg and calls
its ``register_cells`` hook. The cell is named as a ``"module:attribute"``
string, so ``forecaster cells`` lists it without importing torch.
"""

from forecaster.hookspecs import Register, hookimpl


@hookimpl
def register_cells(register: Register) -> None:
    register("gru", "forecaster_gru.cell:StageGRU", "Stage-by-stage GRU: reset, update, candidate memory, new memory")
