"""Families: guardian contacts, invitations, family accounts and the portal.

A guardian contact is the roster's record of a student's contact, per district. A family member
is a person with a Homeroom account, linked to students through connections that stay pending
until the family claims them. Invitations join the two. Models arrive with the families issue.
"""
