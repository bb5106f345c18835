"""The sync engine: fetch → reconcile (pure, gives a plan) → apply (bulk, one transaction).

- `contacts`: normalising e-mails and phones the way matching needs them.
- `reconcile`: records + settings + what Homeroom holds → a plan with counts and warnings.
- `apply`: writes a plan with bulk statements.
- `runs`: one run of one district, from fetch to report (`district_sync`).
"""
