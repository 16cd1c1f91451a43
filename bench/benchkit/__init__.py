"""Shared pieces of the DCCF benchmarks: arguments, RSS sampling, jobs, the direct baseline."""
