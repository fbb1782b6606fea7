# cuttle: Octopus Deploy-compatible helpers shared by the bash and POSIX
# sh helpers (octopus.bash, octopus.sh source this file). POSIX sh only;
# their working variables are __cuttle_ ones.

# set_environmentstate KEY VALUE [-sensitive] [TYPE]: state for the
# environment, recorded in the report (TYPE defaults to State).
set_environmentstate() {
  __cuttle_msg="##octopus[set-environmentstate"
  if [ -n "${1-}" ]; then __cuttle_msg="$__cuttle_msg key='$(encode_servicemessagevalue "$1")'"; fi
  if [ -n "${2-}" ]; then __cuttle_msg="$__cuttle_msg value='$(encode_servicemessagevalue "$2")'"; fi
  if [ "${3-}" = "-sensitive" ]; then __cuttle_msg="$__cuttle_msg sensitive='$(encode_servicemessagevalue "True")'"; fi
  echo "$__cuttle_msg type='$(encode_servicemessagevalue "${4:-State}")']"
}

# set_environmenturl KEY URL [-sensitive]: environment state of type Url.
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

# report_kubernetes_manifest MANIFEST [NAMESPACE]: one k8s-manifest-applied
# message per YAML document (documents split at lines that are ---).
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

# report_kubernetes_manifest_file PATH [NAMESPACE]: the same for a file; a
# missing file is said at the verbose level.
report_kubernetes_manifest_file() {
  if [ ! -f "${1-}" ]; then
    write_verbose "No Kubernetes manifest file was found at '${1-}'."
    return 0
  fi
  report_kubernetes_manifest "$(cat "$1")" "${2-}"
}

# new_octopustarget [-n|--name N] [-t|--target-id ID] [--inputs JSON]
# [--roles R] [--worker-pool P] [--update-if-existing]: asks for a
# deployment target; cuttle records it in the report.
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

# remove_octopustarget MACHINE: asks for a deployment target's removal.
remove_octopustarget() {
  echo "##octopus[delete-target machine='$(encode_servicemessagevalue "${1-}")']"
}
