"""The `scrm` command line. Each module here adds its own sub-commands through `register(subparsers)`."""
