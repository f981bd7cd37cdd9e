"""``python -m cnnlstm.commands.detect``: the ``cnnlstm detect`` command alone."""

import sys

from cnnlstm.commands.detect import main

sys.exit(main())
