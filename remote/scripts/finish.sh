c=$1 w=$2 s=$3 k=$4 r=$5; shift 5
"$r" step-runner pack --workdir "$w" -- "$@" || echo "pack=failed" >&2
exec 1>&2
set -- "$c" "$w" "$s" "$k"
