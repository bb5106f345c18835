from django.apps import AppConfig


class SandboxConfig(AppConfig):
    name = "homeroom.sandbox"
    label = "sandbox"
    verbose_name = "Clever sandbox"
