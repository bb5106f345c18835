"""Messaging: conversations between staff and family members about students and classrooms.

Models arrive with the messaging issue.
"""
