"""Reading series: a CSV file (compressed or not) or a DataFrame -> a validated table; its time axis and seasons.

It imports only errors.py: everything above reads through it, and nothing here knows of models or training.
"""
