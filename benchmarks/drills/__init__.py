"""Fault drills as code: real ``mailroom`` processes, private services, real letters.

``python -m benchmarks.drills`` starts private RabbitMQ, PostgreSQL and S3 (``weed mini``)
instances on free ports — never the machine's own services — runs ``mailroom up`` on
them and on the embedded default, drops scanned letters into a hot folder and injects
one fault per drill: a worker or the watcher killed, the broker stopped or closing every
connection, the database or the object store gone or frozen, a malformed queue message,
poison documents, a long document outliving the broker's heartbeat timeout. Each drill
prints what was dropped, finished, lost, duplicated and stuck, how many seconds after the
fault's end the last letter was done, and which processes died.

``tests/drills`` runs a short subset of the same drills in ``.ci/run`` and checks the
targets (nothing lost, duplicated or stuck; recovery within a minute; no process dead).
"""
