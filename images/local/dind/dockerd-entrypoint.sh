#!/bin/sh
# docker:dind's entrypoint contract, as far as infra/ relies on it: `dockerd ARGS...` (or only
# flags) runs the daemon with those arguments; any other command runs as given. Before the
# daemon starts, the seed images are loaded once into its data root.
set -eu
seed_dir=/usr/share/dccf/seed-images
seed_socket=unix:///run/dccf-seed.sock

seed() {
    [ ! -e /var/lib/docker/.dccf-seeded ] || return 0
    ls "$seed_dir"/*.tar >/dev/null 2>&1 || return 0
    dockerd --host="$seed_socket" --pidfile=/run/dccf-seed.pid --bridge=none \
        --iptables=false >/run/dccf-seed.log 2>&1 &
    daemon=$!
    tries=0
    until docker --host="$seed_socket" info >/dev/null 2>&1; do
        tries=$((tries + 1))
        if [ "$tries" -gt 120 ] || ! kill -0 "$daemon" 2>/dev/null; then
            cat /run/dccf-seed.log >&2
            echo "the seeding dockerd did not start" >&2
            exit 1
        fi
        sleep 0.5
    done
    for archive in "$seed_dir"/*.tar; do
        docker --host="$seed_socket" load --input "$archive"
    done
    kill "$daemon"
    wait "$daemon" || true
    touch /var/lib/docker/.dccf-seeded
}

if [ "$#" -eq 0 ] || [ "${1#-}" != "$1" ]; then
    set -- dockerd "$@"
fi
if [ "$1" = dockerd ]; then
    seed
fi
exec "$@"
