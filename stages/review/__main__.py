"""`python -m stages.review`: run the stage (see `stages.review.stage`)."""

from stages.core.errors import run_main
from stages.review.stage import main

run_main(main)
