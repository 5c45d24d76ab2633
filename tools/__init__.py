"""Developer tools run from the project root with ``python -m tools.<name>``."""
