"""The Celery app. Its configuration is the CELERY_* names in homeroom.settings."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "homeroom.settings")

app = Celery("homeroom")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
