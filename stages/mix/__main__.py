"""`python -m stages.mix`: run the stage (see `stages.mix.stage`)."""

from stages.core.errors import run_main
from stages.mix.stage import main

run_main(main)
