"""Pipeline stages: one package per DVC stage (`stages/<stage>/`), plus what they all share in `stages.core`."""
