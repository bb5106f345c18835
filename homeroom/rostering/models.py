"""Rostering: keeping a district's directory in step with its roster source.

Sources (`clever`, `oneroster_csv`, `oneroster_rest`) and each district's sync settings and
schedule; a run (full, events or dry run) fetches records, reconciles them into a plan and
applies the plan in one transaction, leaving a SyncRun with counts, warnings and a status.
Models arrive with the rostering issue.
"""
