"""`python -m storyboard`: the headless command line."""

import sys

from storyboard.cli import main

sys.exit(main())
