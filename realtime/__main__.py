from __future__ import annotations

import sys

from realtime.main import main

sys.exit(main())
