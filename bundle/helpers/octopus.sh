# cuttle: Octopus Deploy-compatible helpers for POSIX sh step scripts
# (dash, busybox ash). Sourced by the step runner before the script.
# Variable names are matched exactly here (bash matches case-insensitively).

__cuttle_n=0
# The script's positional parameters, as Octopus passes them: the runner
# evaluates this text as the script's arguments. (The name needs no
# escaping, so it is compared as it arrives.)
__cuttle_params=
if [ -n "${CUTTLE_VARIABLES_FD:-}" ]; then
  while IFS=' ' read -r __cuttle_k __cuttle_v; do
    if [ "$__cuttle_k" = "Octopus.Action.Script.ScriptParameters" ]; then
      __cuttle_params=$(printf '%b' "$__cuttle_v")
    fi
    __cuttle_n=$((__cuttle_n + 1))
    # eval sees only variable references, never the values themselves.
    eval "__cuttle_k$__cuttle_n=\$__cuttle_k; __cuttle_v$__cuttle_n=\$__cuttle_v"
  done <&3
  exec 3<&-
  unset __cuttle_k __cuttle_v CUTTLE_VARIABLES_FD
fi

encode_servicemessagevalue() {
  printf '%s' "$1" | "$CUTTLE_RUNNER" step-runner base64
}

decode_servicemessagevalue() {
  printf '%s' "$1" | "$CUTTLE_RUNNER" step-runner base64 --decode
}

get_octopusvariable() {
  __cuttle_i=1
  while [ "$__cuttle_i" -le "$__cuttle_n" ]; do
    eval "__cuttle_k=\$__cuttle_k$__cuttle_i"
    if [ "$(printf '%b' "$__cuttle_k")" = "$1" ]; then
      eval "printf '%b\n' \"\$__cuttle_v$__cuttle_i\""
      return 0
    fi
    __cuttle_i=$((__cuttle_i + 1))
  done
  echo ""
}

# Helpers bash and sh share (POSIX; their variables are __cuttle_ ones).
# shellcheck source=SCRIPTDIR/octopus-common.sh # beside this file in the bundle
. "${CUTTLE_HELPERS%/*}/octopus-common.sh"

set_octopusvariable() {
  __cuttle_msg="##octopus[setVariable"
  if [ -n "${1-}" ]; then __cuttle_msg="$__cuttle_msg name='$(encode_servicemessagevalue "$1")'"; fi
  if [ -n "${2-}" ]; then __cuttle_msg="$__cuttle_msg value='$(encode_servicemessagevalue "$2")'"; fi
  if [ "${3-}" = "-sensitive" ]; then __cuttle_msg="$__cuttle_msg sensitive='$(encode_servicemessagevalue "True")'"; fi
  echo "$__cuttle_msg]"
}

new_octopusartifact() {
  __cuttle_path="${1-}"
  __cuttle_name="${2-}"
  if [ -z "$__cuttle_path" ] || [ ! -f "$__cuttle_path" ]; then
    echo "new_octopusartifact: there is no file '$__cuttle_path' to collect" >&2
    return 1
  fi
  case "$__cuttle_path" in */*) __cuttle_dir="${__cuttle_path%/*}" ;; *) __cuttle_dir=. ;; esac
  __cuttle_base="${__cuttle_path##*/}"
  __cuttle_dir="$(cd "${__cuttle_dir:-/}" && pwd -P)" || return 1
  __cuttle_path="${__cuttle_dir%/}/$__cuttle_base"
  [ -n "$__cuttle_name" ] || __cuttle_name="$__cuttle_base"
  echo "##octopus[stdout-verbose]"
  echo "Artifact $__cuttle_name will be collected from $__cuttle_path after this step completes"
  echo "##octopus[stdout-default]"
  echo "##octopus[createArtifact path='$(encode_servicemessagevalue "$__cuttle_path")' name='$(encode_servicemessagevalue "$__cuttle_name")']"
}

fail_step() {
  if [ -n "${1-}" ]; then
    echo "##octopus[resultMessage message='$(encode_servicemessagevalue "$1")']"
  fi
  exit 1
}

update_progress() {
  echo "##octopus[progress percentage='$(encode_servicemessagevalue "${1-}")' message='$(encode_servicemessagevalue "${2-}")']"
}

write_verbose()   { echo "##octopus[stdout-verbose]";   echo "$1"; echo "##octopus[stdout-default]"; }
write_highlight() { echo "##octopus[stdout-highlight]"; echo "$1"; echo "##octopus[stdout-default]"; }
write_wait()      { echo "##octopus[stdout-wait]";      echo "$1"; echo "##octopus[stdout-default]"; }
write_warning()   { echo "##octopus[stdout-warning]";   echo "$1"; echo "##octopus[stdout-default]"; }
