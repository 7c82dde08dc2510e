"""`python -m stages.filter`: run the stage (see `stages.filter.stage`)."""

from stages.core.errors import run_main
from stages.filter.stage import main

run_main(main)
