set -u
if [ "$3" = stop ]; then docker stop -t 10 "$1" >/dev/null 2>&1; fi
if [ "${5:--}" = probe ]; then echo "started=$(docker inspect --format '{{.State.StartedAt}}' "$1" 2>/dev/null)"; fi
cfail=
if ! out=$(docker rm -f "$1" 2>&1); then
  case "$out" in *"No such container"*) ;; *) echo "container=$out"; cfail=1 ;; esac
fi
# Registry credentials go even when the work directory is kept.
rm -rf "$2/.docker-config" 2>/dev/null
if [ -n "$cfail" ]; then
  # The container may still run in it (an engine that is away): the work
  # directory and the heartbeat stay, and the worker's dead man's switch
  # removes both once the engine answers again.
  echo "workdir=left"
else
  rm -f "$2/.cuttle-heartbeat"
  if [ "$4" != keep ]; then
    rm -rf "$2" 2>/dev/null
    if [ -e "$2" ]; then echo "workdir=left"; fi
  fi
fi
# The run's record goes last, once what it lists is gone.
if [ -z "$cfail" ] && [ ! -e "$2/.docker-config" ] && { [ "$4" = keep ] || [ ! -e "$2" ]; }; then
  rm -f "$HOME/.cuttle/runs/${2##*/}.json"
fi
