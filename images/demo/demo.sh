#!/bin/sh
# The DCCF demo job: talks on both streams, works a little, leaves a file in /output.
set -eu
echo "DCCF demo job starting on $(hostname)"
echo "this line goes to stderr" >&2
sleep 2
echo "Hello from the DCCF demo job" > /output/output.txt
date -u +"finished at %Y-%m-%dT%H:%M:%SZ" >> /output/output.txt
echo "wrote /output/output.txt"
