"""`python -m elmo_keras`: the `elmo-keras` command line."""

import sys

from elmo_keras.apps.cli import main

sys.exit(main())
