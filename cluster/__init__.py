"""Cluster mode (PostgreSQL): the parts of a node that talk to the other nodes through the
database (docs/cluster.md). ``keeper``: the leases this node holds (renewed, balanced,
fenced); ``node``: the parts assembled for ``service.app``; ``routing``: account commands
served wherever the account is; ``operations``: this node running the commands others queued
for its accounts; ``nodes``: the ``nodes`` command's rows."""
