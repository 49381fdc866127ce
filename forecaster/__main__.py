from forecaster.cli import command

command()
