"""`python -m emulator` is the `hub-emulator` command."""

from emulator.cli import main

raise SystemExit(main())
