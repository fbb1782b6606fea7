set -u
# $1 bundle digest, $2 each probe's bound in seconds: a hung engine or
# mount is reported as such, not as a connection that timed out.
t=${2:-10}
bounded() {
  if command -v timeout >/dev/null 2>&1; then timeout "$t" "$@"; else "$@"; fi
}
echo "now=$(date +%s)"
echo "home=${HOME:-}"
[ -n "${HOME:-}" ] && [ -w "$HOME" ] && echo "home_writable=yes"
echo "arch=$(uname -m)"
echo "groups=$(id -nG 2>/dev/null)"
if command -v docker >/dev/null 2>&1; then
  if v=$(bounded docker version --format '{{.Client.Version}} {{.Server.Version}}' 2>&1); then
    echo "docker_client=${v%% *}"
    echo "docker_server=${v#* }"
    root=$(bounded docker info --format '{{.DockerRootDir}}' 2>/dev/null)
    [ -n "$root" ] && echo "docker_root_free_kb=$(bounded df -Pk "$root" 2>/dev/null | awk 'NR==2 {print $4}')"
  elif [ $? = 124 ]; then
    echo "docker_error=engine not answering within ${t}s"
  else
    echo "docker_error=$(printf '%s' "$v" | tr '\n' ' ' | cut -c1-300)"
  fi
else
  echo "docker_missing=yes"
fi
mkdir -p "$HOME/.cuttle" 2>/dev/null
echo "home_free_kb=$(bounded df -Pk "$HOME" 2>/dev/null | awk 'NR==2 {print $4}')"
mnt=$(bounded df -P "$HOME/.cuttle" 2>/dev/null | awk 'NR==2 {print $6}')
if [ -n "$mnt" ] && awk -v m="$mnt" '$2 == m {print $4}' /proc/mounts 2>/dev/null | tr ',' '\n' | grep -qx noexec; then echo "noexec=yes"; fi
command -v git >/dev/null 2>&1 && echo "git=yes"
command -v flock >/dev/null 2>&1 && echo "flock=yes"
[ -f "$HOME/.cuttle/bundles/$1/.complete" ] && echo "bundle=current"
exit 0
