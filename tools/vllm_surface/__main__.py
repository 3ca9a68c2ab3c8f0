"""``python -m tools.vllm_surface``: see :mod:`tools.vllm_surface.cli`."""

import sys

from tools.vllm_surface.cli import main

sys.exit(main())
