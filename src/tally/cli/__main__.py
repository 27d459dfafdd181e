from tally.cli import cli

cli()
