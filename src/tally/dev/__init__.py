"""Development tooling, kept apart from the node's runtime: demo data, node
processes for tests and benchmarks, a local network of nodes and etcd
members, and the benchmarks themselves.

Layer-wise it sits above the API and below the CLI: it may use everything,
and nothing but the CLI (and tests) uses it.
"""
