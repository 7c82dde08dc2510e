"""Filter checks, one module per family; `base.py` defines a check and finds them all (`registered`)."""
