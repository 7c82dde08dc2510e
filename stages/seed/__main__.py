"""`python -m stages.seed`: run the stage (see `stages.seed.stage`)."""

from stages.core.errors import run_main
from stages.seed.stage import main

run_main(main)
