import sys

from micboardd.cli.main import main

sys.exit(main())
