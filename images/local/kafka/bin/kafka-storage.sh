#!/bin/bash
# kafka-storage.sh format|info|random-uuid ...: KRaft storage, as in the distribution.
exec /opt/kafka/bin/kafka-run-class.sh kafka.tools.StorageTool "$@"
