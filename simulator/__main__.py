"""``python -m simulator`` is ``infusion-sim``."""

from simulator.cli import main

raise SystemExit(main())
