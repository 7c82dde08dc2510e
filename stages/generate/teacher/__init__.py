"""The teacher backend (`generate.backend: openai`), one module per job.

plan (which requests, their cache keys) <- prompts (template files) ; cache (append-only response
shards) ; transport (the SDK call, what its errors mean) ; limits (budget, rate limiters, shared
pauses) ; progress (per-request figures, status line) ; run (generate_with_teacher) -> setup (what a
run sends with, TeacherSetup) -> direct (TeacherRunner) or batch (BatchRunner) ;
answers (parsing an answer) -> outputs (rows, pairs, rejections) ; metrics (the `teacher` figures).
"""
