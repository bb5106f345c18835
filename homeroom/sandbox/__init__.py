"""A Clever-compatible sandbox: a district generator and a local server for Clever's Data and
Events APIs (v3.0 and v3.1).

No machine that builds or tests Homeroom can reach Clever, and a newcomer has no Clever account, so
this package stands in for Clever everywhere: it is the demo's default source, the fixture of the
sync tests and the load of the benchmarks.

- `generator`: builds a realistic district of any size, deterministically from a seed.
- `store`: the sandbox's own SQLite file (never Homeroom's database), records kept as Clever JSON.
- `server`: a WSGI app serving the store exactly as the official specs describe.
- `mutate`: realistic roster changes, recorded as Clever events.
- `faults`: Clever's rate limit and the failures a client must survive.
"""
