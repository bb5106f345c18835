"""The sync engine: fetch → reconcile (pure, gives a plan) → apply (bulk, one transaction).

- `contacts`: normalising e-mails and phones the way matching needs them.
- `state`: what Homeroom holds of a district, compactly, for reconcile.
- `reconcile`: records + settings + what Homeroom holds → a plan with counts and warnings.
- `apply`: writes a plan with bulk statements.

One run of one district, from fetch to report, is `homeroom.rostering.services.district_sync`.
"""
