from django.apps import AppConfig


class NotifyConfig(AppConfig):
    name = "homeroom.notify"
    verbose_name = "Notifications"
