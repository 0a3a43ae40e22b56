"""Static pages (``dfscan explain``, ``dfscan report --html``): Jinja2 templates, matplotlib
figures, and a headless-Chromium screenshot for checks and the README."""
