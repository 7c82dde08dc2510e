"""Stage filter: quality checks on every generated row (`checks/`, one module per check family); rejected rows keep their reasons."""
