"""The neural network: the recurrent cells (the base class and the built-in ones), the registry that finds every
cell, built in or from a plugin, and the network that unrolls them with a linear head.

Below the model and training rooms, which build networks from what is registered here. A plugin implements the
hooks of ``forecaster.hookspecs`` and checks its cell with ``forecaster.testing``: public faces, kept at the top of
the package.
"""
