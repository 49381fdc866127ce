"""The ``forecaster`` command and ``python -m forecaster``: a Ctrl-C while the command is still starting is said as
one at any later moment is.

The command's own handlers (:func:`forecaster.cli.main`) are in place only
once its modules are imported, a few tenths of a second in; until then
Python's default handler would raise KeyboardInterrupt inside an import and
print its traceback. This module imports nothing of its own, so the window
left is the interpreter's start.
"""

import sys


def command() -> None:
    try:
        from forecaster.cli import command as run
    except KeyboardInterrupt:
        sys.stderr.write("forecaster: error: interrupted by SIGINT\n")
        sys.exit(130)
    run()


if __name__ == "__main__":
    command()
