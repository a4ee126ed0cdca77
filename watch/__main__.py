"""`python -m watch` is the `veille` command."""

from watch.cli import main

main(prog_name="veille")
