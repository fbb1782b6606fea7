set -u
dir=$1 n=$2; shift 2
said=
while :; do
  i=0
  while [ "$i" -lt "$n" ]; do
    if [ -z "$said" ]; then
      flock -n -E 253 "$dir/slot-$i" "$@"
    else
      flock -n -E 253 "$dir/slot-$i" sh -c 'echo "cuttle: got a step slot" >&2; exec "$@"' sh "$@"
    fi
    rc=$?
    [ "$rc" -ne 253 ] && exit "$rc"
    i=$((i + 1))
  done
  if [ -z "$said" ]; then echo "cuttle: all $n step slots on this worker are taken; waiting" >&2; said=1; fi
  sleep 1
done
