package fleet

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/cuttle-sh/cuttle/config"
	"github.com/cuttle-sh/cuttle/remote"
	"github.com/cuttle-sh/cuttle/wire"
)

func TestRunbookVariableNamesKeepEquals(t *testing.T) {
	t.Setenv("CUTTLE_TEST_RB_SECRET", "pw=1")
	v, err := runbookVariables(&config.Runbook{Name: "rb",
		Variables:          map[string]string{"a=b": "c=d", "VariableName 10 !@#$%^&*()_+1234567890-=": "v", "Plain": "p"},
		SensitiveVariables: map[string]string{"Secret=Name": "CUTTLE_TEST_RB_SECRET"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{"a=b": "c=d", "VariableName 10 !@#$%^&*()_+1234567890-=": "v", "Plain": "p", "Secret=Name": "pw=1"} {
		if got, ok := v.Get(name); !ok || got.Value != want {
			t.Errorf("%q = %+v, want %q", name, got, want)
		}
	}
	if _, ok := v.Get("a"); ok {
		t.Error("a=b was split at its '='")
	}
	if _, err := runbookVariables(&config.Runbook{SensitiveVariables: map[string]string{"S": "CUTTLE_TEST_RB_UNSET"}}, nil); err == nil ||
		!strings.Contains(err.Error(), "sensitive_variables S: environment variable CUTTLE_TEST_RB_UNSET is not set") {
		t.Errorf("unset environment variable: %v", err)
	}
}

func stepWith(c config.Container, script string) config.RunbookStep {
	return config.RunbookStep{Name: "s", Worker: "w1", Container: c, Script: config.Script{Inline: script}}
}

func TestBuildStepEvaluatesFields(t *testing.T) {
	t.Setenv("CUTTLE_TEST_PW", "pa ss!")
	t.Setenv("CUTTLE_TEST_TOKEN", "tok3n")
	cfg := &config.Config{Workers: map[string]config.Worker{"w1": {Host: "h", Pool: "p"}},
		Pools: map[string]config.Pool{"p": {Proxy: &config.Proxy{Host: "proxy", Port: 3128, Username: "u", PasswordEnv: "CUTTLE_TEST_PW"}}}}
	vars, err := ParseVariables([]string{"Repo=alpine", "Tag=3.20", "Opts=--env A=#{Tag}", "Greeting=hi #{Who}", "Who=you",
		"Loop=#{Loop}", "Octopus.Action.FailScriptOnErrorOutput=#{Strict}", "Strict=true"}, []string{"Token=CUTTLE_TEST_TOKEN"})
	if err != nil {
		t.Fatal(err)
	}
	vars.Set("Auth", "Bearer #{Token}", false)
	s := stepWith(config.Container{Image: "#{Repo}:#{Tag}", Options: "#{Opts} --env B=2"}, "echo")
	s.Parameters = `"#{Greeting}" two`
	st, err := BuildStep(cfg, StepInput{Step: s, Vars: vars, Worker: "w1"})
	if err != nil {
		t.Fatal(err)
	}
	if st.Image != "alpine:3.20" || strings.Join(st.ContainerOptions, " ") != "--env A=3.20 --env B=2" || !st.FailOnErrorOutput {
		t.Errorf("image %q, options %q, fail on error output %v", st.Image, st.ContainerOptions, st.FailOnErrorOutput)
	}
	got := map[string]wire.Variable{}
	for _, v := range st.Variables {
		got[v.Name] = v
	}
	for name, want := range map[string]string{"Greeting": "hi you", ScriptParametersVariable: `"hi you" two`, "Loop": "#{Loop}",
		"Auth": "Bearer tok3n", "Octopus.Action.Container.Image": "alpine:3.20", "Octopus.Action.Name": "s"} {
		if got[name].Value != want {
			t.Errorf("variable %s = %q, want %q", name, got[name].Value, want)
		}
	}
	if p := st.Proxy; p == nil || p.Host != "proxy" || p.Port != 3128 || p.Username != "u" || p.Password.Reveal() != "pa ss!" {
		t.Errorf("proxy = %+v", p)
	}
	if m := vars.Masks().Mask("pa ss! pa+ss! tok3n"); m != "******** ******** ********" {
		t.Errorf("masked = %q", m)
	}

	// Calamari evaluates its variables itself: they go to it as written.
	ext, err := BuildStep(cfg, StepInput{Step: s, Vars: vars, Worker: "w1", External: &remote.ExternalRunner{BundleDir: "b", Command: "c"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range ext.Variables {
		if v.Name == "Greeting" && v.Value != "hi #{Who}" {
			t.Errorf("external runner's Greeting = %q", v.Value)
		}
	}
}

func TestBuildStepFieldErrors(t *testing.T) {
	t.Setenv("CUTTLE_TEST_TOKEN", "tok3n")
	vars, err := ParseVariables([]string{"Repo=alpine"}, []string{"Token=CUTTLE_TEST_TOKEN"})
	if err != nil {
		t.Fatal(err)
	}
	cfg := &config.Config{}
	for _, c := range []struct {
		name string
		c    config.Container
		want string
	}{
		{"sensitive image", config.Container{Image: "#{Repo}:#{Token}"}, "container.image refers to sensitive variable #{Token}"},
		{"sensitive options", config.Container{Image: "alpine", Options: "--env T=#{Token}"}, "container.options refers to sensitive variable #{Token}"},
		{"unknown in image", config.Container{Image: "#{Repo}:#{Nope}"}, "#{Nope} could not be evaluated"},
		{"bad template", config.Container{Image: "#{if Repo}x"}, "container.image"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := BuildStep(cfg, StepInput{Step: stepWith(c.c, "echo"), Vars: vars, Worker: "w1"})
			if err == nil || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "tok3n") {
				t.Fatalf("error = %v, want %q", err, c.want)
			}
		})
	}
	vars.Set(ContainerOptionsVariable, "--env X=#{Token}", false)
	if _, err := BuildStep(cfg, StepInput{Step: stepWith(config.Container{Image: "alpine"}, "echo"), Vars: vars, Worker: "w1"}); err == nil ||
		!strings.Contains(err.Error(), ContainerOptionsVariable+" refers to sensitive variable #{Token}") {
		t.Fatalf("options variable: %v", err)
	}
}

func TestResolveWhere(t *testing.T) {
	cfg := &config.Config{Pools: map[string]config.Pool{"linux": {}}}
	vars, _ := ParseVariables([]string{"P=linux", "W=w9", "Bad=nope"}, nil)
	s, err := resolveWhere(cfg, config.RunbookStep{Pool: "#{P}"}, vars)
	if err != nil || s.Pool != "linux" {
		t.Fatalf("pool: %+v %v", s, err)
	}
	if s, err = resolveWhere(cfg, config.RunbookStep{Worker: "#{W}"}, vars); err != nil || s.Worker != "w9" {
		t.Fatalf("worker: %+v %v", s, err)
	}
	if _, err = resolveWhere(cfg, config.RunbookStep{Pool: "#{Bad}"}, vars); err == nil || !strings.Contains(err.Error(), `pool "nope"`) {
		t.Fatalf("undefined pool: %v", err)
	}
}

func TestRetryPolicy(t *testing.T) {
	vars, _ := ParseVariables([]string{RetriesVariable + "=2"}, nil)
	p, err := retryPolicyOf(config.RunbookStep{}, vars)
	if err != nil || p.retries != 2 {
		t.Fatalf("from the variable: %+v %v", p, err)
	}
	if q, _ := retryPolicyOf(config.RunbookStep{Retries: 1, RetryDelay: "2s"}, vars); q.retries != 1 || q.delay.Seconds() != 2 {
		t.Fatalf("retries: wins: %+v", q)
	}
	bad, _ := ParseVariables([]string{RetriesVariable + "=many"}, nil)
	if _, err := retryPolicyOf(config.RunbookStep{}, bad); err == nil {
		t.Fatal("a retry count that is not a number was accepted")
	}
	ctx := context.Background()
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	failed := Attempt{Result: remote.Result{ExitCode: 1}}
	for _, c := range []struct {
		name string
		ctx  context.Context
		a    Attempt
		n    int
		want bool
	}{
		{"success", ctx, Attempt{}, 1, false},
		{"failed, retries left", ctx, failed, 2, true},
		{"failed, none left", ctx, failed, 3, false},
		{"cuttle could not run it", ctx, Attempt{Err: &remote.StepError{Reason: remote.ReasonDocker, Err: errors.New("x")}}, 1, true},
		{"bad input", ctx, Attempt{Err: &remote.StepError{Reason: remote.ReasonInput, Err: errors.New("x")}}, 1, false},
		{"interrupted", cancelled, failed, 1, false},
	} {
		if got := p.again(c.ctx, c.a, c.n); got != c.want {
			t.Errorf("%s: again = %v, want %v", c.name, got, c.want)
		}
	}
	if p.wait(cancelled) {
		t.Error("wait went on after the run was interrupted")
	}
}
