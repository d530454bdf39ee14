"""`python -m asr ...`: the command line (see `asr.cli`)."""

from asr.cli import main

raise SystemExit(main())
