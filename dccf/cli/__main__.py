import sys

from dccf.cli.app import main

sys.exit(main())
