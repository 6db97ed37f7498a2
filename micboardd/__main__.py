import sys

from micboardd.cli.run import main

sys.exit(main())
