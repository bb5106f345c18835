"""Directory: what a district is made of.

Districts (the customer: one Clever/OneRoster tenant), and their schools, terms, courses,
sections (shown as classrooms), staff and students. Every synced row carries its source, its
external id and a hash of the fields sync owns; rows that leave the roster are archived, never
deleted. Models arrive with the directory issue.
"""
