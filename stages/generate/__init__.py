"""Stage generate: synthetic variations of the seeds, built-in offline (`builtin`) or by teacher models (`teacher/`)."""
