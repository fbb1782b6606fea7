# shellcheck disable=SC2034 # digest is used by place-bundle.sh, appended to this script
set -eu
d=$1; digest=$2; shift 2
t=$(mktemp -d "$d/.tmp-XXXXXXXX")
chmod 755 "$t"
while [ $# -ge 2 ]; do mv -f "$1" "$t/$2"; chmod 755 "$t/$2"; shift 2; done
: > "$t/.complete"
