# cuttle: Octopus Deploy-compatible helpers for bash step scripts.
# Sourced by the step runner before the script. Needs nothing from the
# image but bash: base64 goes through cuttle's own runner binary.

# Variables arrive on a pipe from the runner, one per line, name and value
# octal-escaped for printf %b. They live only in this shell's memory.
declare -A octopus_parameters=()
declare -A __cuttle_vars_ci=()
if [ -n "${CUTTLE_VARIABLES_FD:-}" ]; then
  while IFS=' ' read -r __cuttle_k __cuttle_v; do
    printf -v __cuttle_k '%b' "$__cuttle_k"
    printf -v __cuttle_v '%b' "$__cuttle_v"
    # shellcheck disable=SC2034 # read by the step's script, which sources this file
    octopus_parameters["$__cuttle_k"]=$__cuttle_v
    __cuttle_vars_ci["${__cuttle_k,,}"]=$__cuttle_v
  done <&"$CUTTLE_VARIABLES_FD"
  eval "exec ${CUTTLE_VARIABLES_FD}<&-"
  unset __cuttle_k __cuttle_v CUTTLE_VARIABLES_FD
fi
# The script's positional parameters, as Octopus passes them: the runner
# evaluates this text as the rest of the line that sources the script.
__cuttle_params=${__cuttle_vars_ci[octopus.action.script.scriptparameters]-}

function encode_servicemessagevalue {
  printf '%s' "$1" | "$CUTTLE_RUNNER" step-runner base64
}

function decode_servicemessagevalue {
  printf '%s' "$1" | "$CUTTLE_RUNNER" step-runner base64 --decode
}

# get_octopusvariable NAME: the value, or an empty line. Names are
# case-insensitive, as in Octopus.
function get_octopusvariable {
  echo "${__cuttle_vars_ci[${1,,}]-}"
}

# set_octopusvariable NAME VALUE [-sensitive]: an output variable.
function set_octopusvariable {
  local msg="##octopus[setVariable"
  if [ -n "${1-}" ]; then msg="$msg name='$(encode_servicemessagevalue "$1")'"; fi
  if [ -n "${2-}" ]; then msg="$msg value='$(encode_servicemessagevalue "$2")'"; fi
  if [ "${3-}" = "-sensitive" ]; then msg="$msg sensitive='$(encode_servicemessagevalue "True")'"; fi
  echo "$msg]"
}

# Helpers bash and sh share (set_environmentstate, set_environmenturl,
# report_kubernetes_manifest[_file], new_octopustarget,
# remove_octopustarget), and Octopus's spelling of the last.
# shellcheck source=SCRIPTDIR/octopus-common.sh # beside this file in the bundle
. "${CUTTLE_HELPERS%/*}/octopus-common.sh"
function remove-octopustarget { remove_octopustarget "$@"; }

# new_octopusartifact PATH [NAME]: collect PATH after the step. Unlike
# Octopus (which calls an undefined function and dies with 127), a missing
# file is reported on stderr and the function returns 1.
function new_octopusartifact {
  local path="${1-}" name="${2-}" dir base len
  if [ -z "$path" ] || [ ! -f "$path" ]; then
    echo "new_octopusartifact: there is no file '$path' to collect" >&2
    return 1
  fi
  case "$path" in */*) dir="${path%/*}" ;; *) dir=. ;; esac
  base="${path##*/}"
  dir="$(cd "${dir:-/}" && pwd -P)" || return 1
  path="${dir%/}/$base"
  [ -n "$name" ] || name="$base"
  len=$(wc -c < "$path" 2>/dev/null) && len=$((len)) || len=""
  echo "##octopus[stdout-verbose]"
  echo "Artifact $name will be collected from $path after this step completes"
  echo "##octopus[stdout-default]"
  if [ -n "$len" ]; then
    echo "##octopus[createArtifact path='$(encode_servicemessagevalue "$path")' name='$(encode_servicemessagevalue "$name")' length='$(encode_servicemessagevalue "$len")']"
  else
    echo "##octopus[createArtifact path='$(encode_servicemessagevalue "$path")' name='$(encode_servicemessagevalue "$name")']"
  fi
}

# fail_step [MESSAGE]: fail the step (exit 1) with MESSAGE as its result.
function fail_step {
  if [ -n "${1-}" ]; then
    echo "##octopus[resultMessage message='$(encode_servicemessagevalue "$1")']"
  fi
  exit 1
}

function update_progress {
  echo "##octopus[progress percentage='$(encode_servicemessagevalue "${1-}")' message='$(encode_servicemessagevalue "${2-}")']"
}

function write_verbose   { echo "##octopus[stdout-verbose]";   echo "$1"; echo "##octopus[stdout-default]"; }
function write_highlight { echo "##octopus[stdout-highlight]"; echo "$1"; echo "##octopus[stdout-default]"; }
function write_wait      { echo "##octopus[stdout-wait]";      echo "$1"; echo "##octopus[stdout-default]"; }
function write_warning   { echo "##octopus[stdout-warning]";   echo "$1"; echo "##octopus[stdout-default]"; }
