from django.apps import AppConfig


class MessagingConfig(AppConfig):
    name = "homeroom.messaging"
    verbose_name = "Messaging"
