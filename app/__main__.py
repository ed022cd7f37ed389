"""`python -m app`: the command line (`app.cli`)."""

import gc

# Startup builds a few hundred thousand objects that live as long as the process (modules,
# classes, routes, tables): collecting while they are made frees nothing and costs a tenth of
# a second. `serve` and `worker` collect again once startup is over (and frozen: `gc.freeze`),
# every other command as soon as its arguments are read.
gc.disable()

from app.cli import main  # noqa: E402 - after the collector is paused.

main()
