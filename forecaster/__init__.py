"""Forecast the series in a CSV file with a recurrent network whose cell is a plugin."""

__version__ = "0.2.0"
