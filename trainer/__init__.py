"""CloneDesk trainer: a pure ML library (curation, prompts, LoRA training, inference, evaluation).

Importing this package is cheap: torch and transformers are imported inside the functions
that need them, so the web process and ``clonedesk --help`` stay fast.
"""
