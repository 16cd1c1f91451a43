"""A real Kubernetes on this machine, built from Go modules, for the cluster test tier.

`scripts/dev cluster --help` lists the commands; `docs/kubernetes.md` tells the whole path.
"""
