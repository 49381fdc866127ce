"""What a type checker sees of ``import forecaster``: the lazy names of __init__.py with their real signatures."""

from forecaster.api import Model as Model
from forecaster.api import backtest as backtest
from forecaster.api import cells as cells
from forecaster.api import fit as fit
from forecaster.api import load as load
from forecaster.api import restore as restore
from forecaster.errors import BadInput as BadInput
from forecaster.errors import ForecasterError as ForecasterError
from forecaster.errors import HorizonWarning as HorizonWarning
from forecaster.hookspecs import hookimpl as hookimpl
from forecaster.nn.base import RecurrentCell as RecurrentCell
from forecaster.nn.base import State as State
from forecaster.options import FitKeywords as FitKeywords
from forecaster.options import FitOptions as FitOptions

__version__: str
__all__: list[str]
