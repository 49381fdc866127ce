"""How the process runs: SIGINT and SIGTERM as an exception, and the threads torch computes with.

The bottom room with errors.py and options.py: it imports nothing of forecaster's but errors.
"""
