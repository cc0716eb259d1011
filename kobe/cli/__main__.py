"""``python -m kobe.cli``: the same as the ``kobe`` command."""

from kobe.cli import main

main()
