from django.apps import AppConfig


class RosteringConfig(AppConfig):
    name = "homeroom.rostering"
    verbose_name = "Rostering"
