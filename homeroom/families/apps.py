from django.apps import AppConfig


class FamiliesConfig(AppConfig):
    name = "homeroom.families"
    verbose_name = "Families"
