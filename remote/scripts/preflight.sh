set -u
umask 077
if ! command -v docker >/dev/null 2>&1; then echo "error=docker-missing"; exit 3; fi
if ! v=$(docker version --format '{{.Client.Version}} {{.Server.Version}}' 2>&1); then
  echo "error=docker-engine"; printf '%s\n' "$v" | tail -n 5 >&2; exit 3
fi
echo "docker=$v"
# shellcheck disable=SC2015 # the || branch is meant to run when any of the tests fails
[ -n "${HOME:-}" ] && [ -d "$HOME" ] && [ -w "$HOME" ] || { echo "error=home"; exit 3; }
echo "home=$HOME"
echo "uid=$(id -u)"
echo "gid=$(id -g)"
echo "arch=$(uname -m)"
mkdir -p "$HOME/.cuttle/work" "$HOME/.cuttle/bundles" "$HOME/.cuttle/runs" || { echo "error=mkdir"; exit 4; }
# The per-run record claims the step id (noclobber) and lists what the step
# will create before anything is created; cleanup and gc remove exactly that.
n=$2
while ! (set -C; : > "$HOME/.cuttle/runs/$1-$n.json") 2>/dev/null; do
  [ -e "$HOME/.cuttle/runs/$1-$n.json" ] || { echo "error=mkdir"; exit 4; }
  n=$((n + 1))
done
id=$1-$n
w=$HOME/.cuttle/work/$id
printf '{"step":"%s","workdir":"%s","container":"cuttle-%s","docker_config":"%s/.docker-config","started":%s}\n' "$id" "$w" "$id" "$w" "$(date +%s)" > "$HOME/.cuttle/runs/$id.json"
if ! mkdir "$w" 2>/dev/null; then rm -f "$HOME/.cuttle/runs/$id.json"; echo "error=mkdir"; exit 4; fi
# The work directory's parents are private to this user; the directory
# itself is open so that an image's non-root USER can work in it.
chmod 777 "$w"
echo "ticket=$id"
if [ -f "$HOME/.cuttle/bundles/$3/.complete" ]; then echo "bundle=present"; else echo "bundle=absent"; fi
if [ -n "${5:-}" ] && [ -f "$HOME/.cuttle/bundles/$5/.complete" ]; then echo "ext_bundle=present"; fi
if command -v flock >/dev/null 2>&1; then echo "flock=yes"; mkdir -p "$HOME/.cuttle/locks"; fi
img=
if [ -n "$4" ]; then
  if img=$(docker image inspect --format '{{.Id}} {{.Os}}/{{.Architecture}}' "$4" 2>/dev/null); then echo "image=$img"; else img=; echo "image="; fi
fi
# The fast path ($6 = launch, the docker run template after it): with the
# bundle and the image in place the same command starts the step; the
# payload is already waiting on stdin.
if [ "${6:-}" = launch ] && [ -n "$img" ] && [ -f "$HOME/.cuttle/bundles/$3/.complete" ]; then
  d=$3; shift 6
  exec "$HOME/.cuttle/bundles/$d/cuttle" step-runner launch --home "$HOME" --id "$id" --uid "$(id -u)" --gid "$(id -g)" \
    --arch "$(uname -m)" --image-platform "${img#* }" --docker-client "${v%% *}" -- "$@"
fi
