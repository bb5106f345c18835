"""Homeroom: roster sync from Clever and OneRoster, and a family portal, for school districts."""

# Importing the Celery app here makes @shared_task bind to it wherever Django starts. Creating
# the app reads no settings: its configuration is loaded on first use.
from homeroom.celery import app as celery_app

__version__ = "0.1.0"

__all__ = ("__version__", "celery_app")
