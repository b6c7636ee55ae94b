"""Cluster mode on PostgreSQL: leases, fencing, balancing, control from any node.

See docs/cluster.md.
"""
