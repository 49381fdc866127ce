"""`forecaster batch`: the jobs of a TOML file run unattended, as cron needs: the jobs file, one job at a time in a
process of its own, its input guards and staged writes, the run's lock, log, summary, metrics and retention.

The top room but for the doors: it builds on training/ and model/, and nothing else in the package imports it
except the command line.
"""
