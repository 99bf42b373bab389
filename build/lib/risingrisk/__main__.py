"""Run the command line as ``python -m risingrisk``."""

from risingrisk.cli import app

app()
