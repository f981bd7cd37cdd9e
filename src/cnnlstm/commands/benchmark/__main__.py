"""``python -m cnnlstm.commands.benchmark``: the ``cnnlstm benchmark`` command alone."""

import sys

from cnnlstm.commands.benchmark import main

sys.exit(main())
