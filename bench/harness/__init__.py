"""Shared machinery of the benchmark scripts in ``bench/`` (not part of the service).

The scripts are run as ``python bench/<name>.py``, which puts ``bench/`` on ``sys.path``,
so this package imports as ``harness``. Pieces:

- ``harness.sim``: the simulator in this process, a paced buyer-message load on its loop,
  and the record of every push and every reply it saw (one clock for both ends).
- ``harness.service``: the service as a subprocess, its control socket, psutil figures.
- ``harness.report``: percentiles, the readable summary and the final ``--json`` line.
- ``harness.run``: the scripts' ``main``, clean-up on any exit, and the service started with
  its fleet of accounts online (again, for a cold start or a restart).
"""
