"""`python -m edge_ocr` runs the command-line interface."""

from edge_ocr.cli import main

raise SystemExit(main())
