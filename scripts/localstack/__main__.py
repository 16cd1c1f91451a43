from __future__ import annotations

import sys

from localstack.cli import main

sys.exit(main())
