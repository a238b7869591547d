"""governance's statements, one module per aggregate, and the unit of work they run in.

Services (:mod:`governance.services`) hold the rules and call these functions; nothing
here decides anything a rule should. A function takes the caller's ``Session`` and runs
one or a few statements: Core statements on the hot paths (authentication, registration,
promotion requests, decisions, the audit append), the ORM where a row object reads
better. Which statement a backend gets (row locks on PostgreSQL; SQLite's ``BEGIN
IMMEDIATE`` already holds the write lock) is decided here too, not in the services.
"""
