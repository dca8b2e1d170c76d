"""SCRM Gateway: application wiring, settings and the `scrm` command line."""
