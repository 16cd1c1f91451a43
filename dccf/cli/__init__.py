"""The `dccf` command: submit build contexts, follow jobs, fetch logs and results.

Exit codes: 0 the command worked (with --wait: the job succeeded); 1 the job failed, was
cancelled, or --wait-timeout passed first; 2 a usage, input or API error; 130 interrupted.
Progress goes to stderr as plain lines (CI logs stay readable); results go to stdout.

One module per command group (`submit`, `jobs`, `cluster`); `app` builds the parser and runs
a command; `follow` waits for a job and reports its outcome.
"""

from __future__ import annotations

from dccf.cli.app import main

__all__ = ["main"]
