"""flows: the Prefect flows and tasks, and the plain logic they wrap.

Each flow calls :func:`core.offline.apply` first thing (telemetry off in the process
that runs it).
"""
