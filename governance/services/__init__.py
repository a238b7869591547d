"""governance's rules, one module per aggregate.

A write opens one unit of work (:mod:`governance.store.uow`), writes through the store's
statements, appends its audit events and commits once; reads take the caller's session.
What a service returns is the API's shape (:mod:`governance.schemas`).
"""
