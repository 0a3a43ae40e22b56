"""The Celery app built from the environment, for Celery's own command line.

``celery -A worker.app flower`` (the compose file's Flower) and ``celery -A worker.app
inspect ping`` then use the broker that ``DFSCAN_BROKER_URL`` names, with dfscan's queue and
transport options, like every other dfscan process. An entry point: settings built here.
"""

from __future__ import annotations

from pydantic import ValidationError

from common.settings import load_settings, problems
from worker.celery_app import make_app

try:
    app = make_app(load_settings())
except ValidationError as exc:  # a line per bad DFSCAN_* variable, not a traceback
    raise SystemExit(f"dfscan settings: {problems(exc)}") from None
