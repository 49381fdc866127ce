"""How the process runs: SIGINT and SIGTERM as an exception, the threads torch computes with, and the training's bar.

The bottom room with errors.py and options.py: it imports nothing of forecaster's but errors.
"""
