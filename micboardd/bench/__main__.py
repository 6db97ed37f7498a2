import sys

from micboardd.bench.run import main

sys.exit(main())
