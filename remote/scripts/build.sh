set -u
tag=$1 mode=$2 src=$3; shift 3
if docker image inspect "$tag" >/dev/null 2>&1; then
  echo "cuttle: reusing $tag" >&2
  exit 0
fi
if [ "$mode" = git ]; then
  exec docker build -t "$tag" --label io.cuttle.build=git "$@" "$src" >&2
fi
exec docker build -t "$tag" --label io.cuttle.build=dockerfile "$@" - < "$src" >&2
