"""A trained model: what model.json holds (the card), the model directory on disk, how each series is prepared
for the network and restored, its intervals, and how it forecasts.

Everything ``forecaster predict`` needs and nothing that trains: no Lightning, no scikit-learn at import (the
scalers are plain numbers). It builds on data/ and nn/; training/ and batch/ build on it.
"""
