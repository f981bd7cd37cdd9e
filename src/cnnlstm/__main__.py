"""``python -m cnnlstm``: the ``cnnlstm`` command line (see :mod:`cnnlstm.cli`)."""

from __future__ import annotations

import sys

from cnnlstm.cli import main

if __name__ == "__main__":
    sys.exit(main())
