"""Home Assistant add-on start-up glue for wyoming-rtx (``python -m addon``).

The manifest (config.yaml, translations/, DOCS.md) lives at the repository root, where the
Supervisor looks for it; this package only turns the add-on's options into the server's
command line, starts it, registers discovery and stops it.
"""
