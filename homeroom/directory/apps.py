from django.apps import AppConfig


class DirectoryConfig(AppConfig):
    name = "homeroom.directory"
    verbose_name = "Directory"
