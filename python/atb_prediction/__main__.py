"""``python -m atb_prediction``: the ``atb`` command line without the console script."""

from atb_prediction.cli import main

raise SystemExit(main())
