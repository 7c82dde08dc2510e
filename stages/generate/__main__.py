"""`python -m stages.generate`: run the stage (see `stages.generate.stage`)."""

from stages.core.errors import run_main
from stages.generate.stage import main

run_main(main)
