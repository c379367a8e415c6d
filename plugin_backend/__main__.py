"""`python -m plugin_backend` runs the `clonedesk` CLI."""

from plugin_backend.cli import main

main()
