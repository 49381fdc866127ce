"""Training: the options a fit leaves open decided from the data, the windows, the LightningModule and its
Trainer, the fit from end to end, the metrics and baselines it is scored by, and the backtest that fits once a
fold.

The only room that imports Lightning and scikit-learn's fitting; it builds on model/, nn/ and data/ and
hands back a :class:`forecaster.model.trained.Model`.
"""
