"""Roster sources: each turns one provider's wire format into the typed records of `records`.

Sources know nothing of Homeroom's database. Paging, retries, rate limits and authentication live
in a source's `client`; the mapping from wire format to records in its `source`.
"""
