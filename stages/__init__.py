"""Pipeline stages: one module per DVC stage, plus the shared library in `stages.common`."""
