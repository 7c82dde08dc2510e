"""Stage filter: quality checks on every generated row (`checks/`); rejected rows keep their reasons."""
