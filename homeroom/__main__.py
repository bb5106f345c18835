"""`python -m homeroom …` is the `homeroom` command."""

from homeroom.cli import main

main()
