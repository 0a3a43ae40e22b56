"""Research scripts: measurements on ../shared/data behind the docs/*.md tables.

Outside the four layered packages (common, models, worker, scheduler) and not installed with
them: run from the repository root as ``python -m research.<name>`` (each says so, and exits
2, when the research data is absent). They use only the packages' public functions.
"""
