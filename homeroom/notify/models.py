"""Notify: how email and SMS leave Homeroom.

Channels and their backends (console/file by default, SMTP or a provider when configured) and
a record of what was sent to whom. Models arrive with the notify issue.
"""
