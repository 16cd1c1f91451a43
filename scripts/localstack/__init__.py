"""The local stack behind `scripts/dev`: Postgres, KRaft Kafka, a Docker engine, master, workers.

Everything it creates lives under `<repo>/.dccf/`; downloads that should outlive a fresh clone
(the Kafka jars, the base image tar) live under `${XDG_CACHE_HOME:-~/.cache}/dccf/`.
"""
