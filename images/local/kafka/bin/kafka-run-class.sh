#!/bin/bash
# Runs a Kafka main class the way the distribution's script does, for the variables infra/
# and the upstream image use: KAFKA_HEAP_OPTS, KAFKA_JVM_PERFORMANCE_OPTS, KAFKA_OPTS,
# KAFKA_LOG4J_OPTS.
set -e
heap="${KAFKA_HEAP_OPTS:--Xmx256M}"
performance="${KAFKA_JVM_PERFORMANCE_OPTS:--server -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -Djava.awt.headless=true}"
logging="${KAFKA_LOG4J_OPTS:--Dlog4j2.configurationFile=/opt/kafka/config/log4j2.xml}"
# shellcheck disable=SC2086  # the options are word lists, as in Kafka's own script
exec java $heap $performance $logging ${KAFKA_OPTS:-} -cp '/opt/kafka/libs/*' "$@"
