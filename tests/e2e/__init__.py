"""Black-box tests of a running DCCF stack, driven only through its HTTP API (`DCCF_URL`)."""
