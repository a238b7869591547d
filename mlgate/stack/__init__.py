"""The local stack ``mlgate up`` runs: its processes, its parts, its tokens, its deployments.

``processes`` records and controls detached processes (``stack.json``, pid and start
time); ``services`` starts each part (Prefect server, governance, worker, prediction
server); ``tokens`` makes the stack's governance principals and the prediction
server's token; ``deployments`` registers ``prefect.yaml``. The commands live in
:mod:`mlgate.commands.stack`.
"""
