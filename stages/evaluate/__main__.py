"""`python -m stages.evaluate`: run the stage (see `stages.evaluate.stage`)."""

from stages.core.errors import run_main
from stages.evaluate.stage import main

run_main(main)
