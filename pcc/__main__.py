"""``python -m pcc``: the same as the ``pcc`` command."""
import sys

from pcc.cli import main

sys.exit(main())
