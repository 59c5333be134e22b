"""Rendering the overview (vcsync/overview.py): one self-contained HTML page (page.py) and
Prometheus' text exposition format (metrics.py). Neither reads a database."""
