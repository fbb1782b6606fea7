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
  printf '%s' "$1" | "$CUTTLE_RUNNER" step-runner --base64
}

decode_servicemessagevalue() {
  printf '%s' "$1" | "$CUTTLE_RUNNER" step-runner --base64-decode
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

set_octopusvariable() {
  __cuttle_msg="##octopus[setVariable"
  if [ -n "${1-}" ]; then __cuttle_msg="$__cuttle_msg name='$(encode_servicemessagevalue "$1")'"; fi
  if [ -n "${2-}" ]; then __cuttle_msg="$__cuttle_msg value='$(encode_servicemessagevalue "$2")'"; fi
  if [ "${3-}" = "-sensitive" ]; then __cuttle_msg="$__cuttle_msg sensitive='$(encode_servicemessagevalue "True")'"; fi
  echo "$__cuttle_msg]"
}

set_environmentstate() {
  __cuttle_msg="##octopus[set-environmentstate"
  if [ -n "${1-}" ]; then __cuttle_msg="$__cuttle_msg key='$(encode_servicemessagevalue "$1")'"; fi
  if [ -n "${2-}" ]; then __cuttle_msg="$__cuttle_msg value='$(encode_servicemessagevalue "$2")'"; fi
  if [ "${3-}" = "-sensitive" ]; then __cuttle_msg="$__cuttle_msg sensitive='$(encode_servicemessagevalue "True")'"; fi
  echo "$__cuttle_msg type='$(encode_servicemessagevalue "${4:-State}")']"
}

set_environmenturl() {
  set_environmentstate "${1-}" "${2-}" "${3-}" "Url"
}

__cuttle_report_manifest() {
  if [ -n "$2" ]; then
    echo "##octopus[k8s-manifest-applied manifest='$(encode_servicemessagevalue "$1")' ns='$(encode_servicemessagevalue "$2")']"
  else
    echo "##octopus[k8s-manifest-applied manifest='$(encode_servicemessagevalue "$1")']"
  fi
}

report_kubernetes_manifest() {
  __cuttle_cur=""
  __cuttle_nl='
'
  # Not a pipe: the loop must run in this shell to report as it goes.
  while IFS= read -r __cuttle_line; do
    __cuttle_t="${__cuttle_line#"${__cuttle_line%%[![:space:]]*}"}"
    __cuttle_t="${__cuttle_t%"${__cuttle_t##*[![:space:]]}"}"
    if [ "$__cuttle_t" = "---" ]; then
      [ -z "$__cuttle_cur" ] || __cuttle_report_manifest "$__cuttle_cur" "${2-}"
      __cuttle_cur=""
    else
      __cuttle_cur="$__cuttle_cur$__cuttle_line$__cuttle_nl"
    fi
  done <<__CUTTLE_MANIFEST__
${1-}
__CUTTLE_MANIFEST__
  [ -z "$__cuttle_cur" ] || __cuttle_report_manifest "$__cuttle_cur" "${2-}"
}

report_kubernetes_manifest_file() {
  if [ ! -f "${1-}" ]; then
    write_verbose "No Kubernetes manifest file was found at '${1-}'."
    return 0
  fi
  report_kubernetes_manifest "$(cat "$1")" "${2-}"
}

new_octopustarget() (
  params=""
  while [ $# -gt 0 ]; do
    case "$1" in
      -n | --name | -t | --target-id | --inputs | --roles | --worker-pool)
        if [ $# -lt 2 ]; then echo "Error: option $1 needs a value" >&2; exit 1; fi
        case "$1" in
          -n | --name) params="$params name='$(encode_servicemessagevalue "$2")'" ;;
          -t | --target-id) params="$params targetId='$(encode_servicemessagevalue "$2")'" ;;
          --inputs) params="$params inputs='$(encode_servicemessagevalue "$2")'" ;;
          --roles) params="$params octopusRoles='$(encode_servicemessagevalue "$2")'" ;;
          --worker-pool) params="$params octopusDefaultWorkerPoolIdOrName='$(encode_servicemessagevalue "$2")'" ;;
        esac
        shift 2 ;;
      --update-if-existing)
        params="$params updateIfExisting='$(encode_servicemessagevalue "true")'"
        shift ;;
      --) shift; break ;;
      -*) echo "Error: Unknown option: $1" >&2; exit 1 ;;
      *) break ;;
    esac
  done
  echo "##octopus[createStepPackageTarget ${params}]"
)

remove_octopustarget() {
  echo "##octopus[delete-target machine='$(encode_servicemessagevalue "${1-}")']"
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
