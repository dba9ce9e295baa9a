"""One module per ``tapeflow`` subcommand; each defines ``register(subparsers)``."""
