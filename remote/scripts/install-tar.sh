set -eu
d=$1; digest=$2
if [ -f "$d/$digest/.complete" ]; then cat >/dev/null; exit 0; fi
t=$(mktemp -d "$d/.tmp-XXXXXXXX")
chmod 755 "$t"
tar -x -C "$t" -f -
: > "$t/.complete"
