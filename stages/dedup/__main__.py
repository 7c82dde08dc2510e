"""`python -m stages.dedup`: run the stage (see `stages.dedup.stage`)."""

from stages.core.errors import run_main
from stages.dedup.stage import main

run_main(main)
