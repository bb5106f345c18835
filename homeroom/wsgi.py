"""WSGI entry point, e.g. `waitress-serve homeroom.wsgi:application`."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "homeroom.settings")

application = get_wsgi_application()
