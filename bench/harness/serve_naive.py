#!/usr/bin/env python3
"""``python bench/harness/serve_naive.py [serve options]``: the service, naive strategy.

``harness.service.ServiceProcess`` starts this instead of ``run.py serve`` when
``XIANYU_SWAP_STRATEGY=naive`` (``python bench/swap.py --strategy naive``): the same service
and options (``service.cli``), with every account run by ``NaiveAccountActor``.
"""

from __future__ import annotations

import sys
from pathlib import Path

# run as a script, bench/harness is sys.path[0], where harness/service.py would shadow the
# service package: put bench/ there instead (the harness package lives in it)
sys.path[0] = str(Path(__file__).resolve().parents[1])

from harness.naive_account import NaiveAccountActor  # noqa: E402 (after the sys.path fix)
from service.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main(actor_class=NaiveAccountActor))
