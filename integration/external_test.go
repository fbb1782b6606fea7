//go:build integration

package integration

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cuttle-sh/cuttle/internal/testenv"
)

// fakeCalamari is a stand-in for Calamari's run-script: it checks its
// arguments, that the variables file is Calamari's format ("IV__"...),
// and runs the script, printing a service message as Calamari would.
const fakeCalamari = `#!/bin/bash
set -eu
for a in "$@"; do
  case "$a" in
    --script=*) script=${a#--script=} ;;
    --variables=*) vars=${a#--variables=} ;;
    --variablesPassword=*) pw=${a#--variablesPassword=} ;;
  esac
done
[ "$1" = run-script ] || { echo "unexpected command $1" >&2; exit 2; }
[ "$(head -c 4 "$vars")" = "IV__" ] || { echo "variables file is not Calamari's format" >&2; exit 3; }
[ ${#pw} -ge 16 ] || { echo "password too short" >&2; exit 4; }
echo "fake calamari running $(basename "$script")"
echo "##octopus[setVariable name='RnJvbUNhbGFtYXJp' value='eWVz']"
bash "$script"
`

func TestExternalRunner(t *testing.T) {
	t.Parallel()
	bundle := t.TempDir()
	if err := os.WriteFile(filepath.Join(bundle, "Calamari"), []byte(fakeCalamari), 0o755); err != nil {
		t.Fatal(err)
	}
	args := func(image string) []string {
		return append(workerArgs(), "--image", image, "--pull", "never", "--runner-bundle", bundle,
			"--runner-command", "{bundle}/Calamari run-script --script={script} --variables={variables} --variablesPassword={password}",
			"--var", "Env=prod", "--inline", `echo "script ran in $PWD"; mkdir -p out && touch out/root-owned`)
	}
	r := runCuttle(t, args(env.image)...)
	if r.code != 0 || !strings.Contains(r.stdout, "fake calamari running script.sh") || !strings.Contains(r.stdout, "script ran in") {
		t.Fatalf("exit %d\nstdout %s\nstderr %s", r.code, r.stdout, r.stderr)
	}
	if step(t, r).OutputVariables["FromCalamari"] != "yes" {
		t.Errorf("service message from the external runner not acted on: %+v", step(t, r))
	}
	// Files the root-run external runner left are cleaned up too.
	assertNothingLeft(t, r)

	static, err := testenv.EnsureStaticImage(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	r = runCuttle(t, args(static)...)
	if r.code != 125 || !strings.Contains(r.stderr, "needs glibc") || strings.Contains(r.stdout, "fake calamari") {
		t.Fatalf("no-glibc image: exit %d\nstdout %s\nstderr %s", r.code, r.stdout, r.stderr)
	}
	assertNothingLeft(t, r)
}
