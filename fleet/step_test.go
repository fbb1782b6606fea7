package fleet

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/cuttle-sh/cuttle/config"
	"github.com/cuttle-sh/cuttle/internal/secret"
	"github.com/cuttle-sh/cuttle/remote"
)

func buildStep(t *testing.T, cfg *config.Config, s config.RunbookStep, mod ...func(*StepInput)) (remote.Step, error) {
	t.Helper()
	vars, err := ParseVariables([]string{"Env=prod"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	in := StepInput{Step: s, BaseDir: t.TempDir(), Vars: vars, Worker: "w1", ArtifactsDir: "out"}
	for _, m := range mod {
		m(&in)
	}
	return BuildStep(cfg, in)
}

// expectError fails t unless err contains want, or is nil when want is
// empty; it reports whether an error was expected (the case is done).
func expectError(t *testing.T, err error, want string) bool {
	t.Helper()
	if want == "" {
		if err != nil {
			t.Fatal(err)
		}
		return false
	}
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("err = %v, want %q", err, want)
	}
	return true
}

func TestBuildStepImageAndBuild(t *testing.T) {
	base := t.TempDir()
	os.WriteFile(filepath.Join(base, "Dockerfile.tools"), []byte("FROM alpine:3\nRUN true\n"), 0o600)
	inBase := func(in *StepInput) { in.BaseDir = base }
	tests := []struct {
		name      string
		container config.Container
		wantImage string
		wantPull  remote.PullPolicy
		wantBuild *remote.Build
		wantErr   string
	}{
		{name: "a tag is pulled always", container: config.Container{Image: "alpine:3"}, wantImage: "alpine:3", wantPull: remote.PullAlways},
		{name: "a digest only when missing", container: config.Container{Image: "alpine@sha256:" + strings.Repeat("a", 64)}, wantImage: "alpine@sha256:" + strings.Repeat("a", 64), wantPull: remote.PullMissing},
		{name: "an explicit policy", container: config.Container{Image: "alpine:3", Pull: "never"}, wantImage: "alpine:3", wantPull: remote.PullNever},
		{name: "a bad policy", container: config.Container{Image: "alpine:3", Pull: "sometimes"}, wantErr: `pull policy "sometimes"`},
		{name: "a bad image", container: config.Container{Image: "-rm"}, wantErr: `image "-rm" is not a valid image reference`},
		{name: "an inline dockerfile", container: config.Container{Dockerfile: "FROM alpine:3\n", BuildArgs: []string{"V=1"}},
			wantImage: remote.BuildRepo, wantPull: remote.PullAlways, wantBuild: &remote.Build{Dockerfile: []byte("FROM alpine:3\n"), Args: []string{"V=1"}}},
		{name: "a dockerfile beside the runbook", container: config.Container{Dockerfile: "Dockerfile.tools"},
			wantImage: remote.BuildRepo, wantPull: remote.PullAlways, wantBuild: &remote.Build{Dockerfile: []byte("FROM alpine:3\nRUN true\n")}},
		{name: "a missing dockerfile", container: config.Container{Dockerfile: "nope"}, wantErr: "container.dockerfile: open "},
		{name: "a git url", container: config.Container{DockerfileURL: "https://git.example.com/t.git#main:docker"},
			wantImage: remote.BuildRepo, wantPull: remote.PullAlways, wantBuild: &remote.Build{GitURL: "https://git.example.com/t.git#main:docker"}},
		{name: "a git url that is an option", container: config.Container{DockerfileURL: "--upload-pack=x"}, wantErr: `dockerfile_url "--upload-pack=x": want repo.git#ref:subdir`},
		{name: "build args without a build", container: config.Container{Image: "alpine:3", BuildArgs: []string{"A=1"}}, wantErr: "build arguments need a dockerfile or dockerfile_url"},
		{name: "a build arg without =", container: config.Container{Dockerfile: "FROM x\n", BuildArgs: []string{"A"}}, wantErr: `build argument "A": want KEY=VALUE`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, err := buildStep(t, &config.Config{}, step("s", "w1", func(s *config.RunbookStep) { s.Container = tt.container }), inBase)
			if expectError(t, err, tt.wantErr) {
				return
			}
			if st.Image != tt.wantImage || st.Pull != tt.wantPull || !cmp.Equal(st.Build, tt.wantBuild) {
				t.Errorf("image %q, pull %q, build %+v; want %q, %q, %+v", st.Image, st.Pull, st.Build, tt.wantImage, tt.wantPull, tt.wantBuild)
			}
		})
	}
}

func TestBuildStepFeeds(t *testing.T) {
	t.Setenv("CUTTLE_TEST_REG_PW", "env-pw")
	pwFile := filepath.Join(t.TempDir(), "pw")
	os.WriteFile(pwFile, []byte("file-pw\n"), 0o600)
	cfg := &config.Config{Feeds: map[string]config.Feed{
		"internal": {Registry: "registry.example.com", Username: "ci", PasswordEnv: "CUTTLE_TEST_REG_PW"},
		"files":    {Registry: "files.example.com", Username: "bot", PasswordFile: pwFile},
		"anon":     {Registry: "anon.example.com"},
		"unset":    {Registry: "unset.example.com", Username: "u", PasswordEnv: "CUTTLE_TEST_UNSET"},
		"gone":     {Registry: "gone.example.com", Username: "u", PasswordFile: filepath.Join(t.TempDir(), "missing")},
	}}
	tests := []struct {
		name, image, feed string
		want              *remote.Feed
		wantPW, wantErr   string
	}{
		{name: "matched by the image's registry", image: "registry.example.com/tools:1", want: &remote.Feed{Registry: "registry.example.com", Username: "ci"}, wantPW: "env-pw"},
		{name: "password_file, its newline trimmed", image: "files.example.com/x:1", want: &remote.Feed{Registry: "files.example.com", Username: "bot"}, wantPW: "file-pw"},
		{name: "named", image: "alpine:3", feed: "internal", want: &remote.Feed{Registry: "registry.example.com", Username: "ci"}, wantPW: "env-pw"},
		{name: "no match: no credentials", image: "docker.io/library/alpine:3"},
		{name: "a feed without a user: no credentials", image: "anon.example.com/x:1"},
		{name: "an unknown feed", image: "alpine:3", feed: "nope", wantErr: "feed nope: no such feed in the config"},
		{name: "an unset password_env", image: "unset.example.com/x:1", wantErr: "feed unset.example.com: environment variable CUTTLE_TEST_UNSET (password_env) is not set"},
		{name: "a missing password_file", image: "gone.example.com/x:1", wantErr: "feed gone.example.com: password_file: open "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, err := buildStep(t, cfg, step("s", "w1", func(s *config.RunbookStep) { s.Container = config.Container{Image: tt.image, Feed: tt.feed} }))
			if expectError(t, err, tt.wantErr) {
				return
			}
			if tt.want == nil {
				if st.Feed != nil {
					t.Fatalf("credentials %s for %s", st.Feed.Registry, tt.image)
				}
				return
			}
			if st.Feed == nil || st.Feed.Registry != tt.want.Registry || st.Feed.Username != tt.want.Username || st.Feed.Password.Reveal() != tt.wantPW {
				t.Fatalf("feed = %+v", st.Feed)
			}
		})
	}
	// Credentials from the command line win over the config's feed.
	flagFeed := &remote.Feed{Registry: "registry.example.com", Username: "flag", Password: secret.New("x")}
	st, err := buildStep(t, cfg, step("s", "w1", func(s *config.RunbookStep) { s.Container.Image = "registry.example.com/t:1" }), func(in *StepInput) { in.Feed = flagFeed })
	if err != nil || st.Feed != flagFeed {
		t.Errorf("--registry-username lost to the config: %+v, %v", st.Feed, err)
	}
}

func TestBuildStepScriptAndVariables(t *testing.T) {
	base := t.TempDir()
	os.WriteFile(filepath.Join(base, "deploy.sh"), []byte("#!/bin/sh\necho #{Env}\n"), 0o600)
	cfg := &config.Config{Workers: map[string]config.Worker{"w1": {Host: "h", Grants: config.Grants{AllowPrivileged: true}}},
		Runner: config.Runner{Bundle: "~/calamari", Command: "{bundle}/run {script}"}}
	home := testHome(t)
	st, err := buildStep(t, cfg, step("Deploy App", "w1", func(s *config.RunbookStep) {
		s.Script = config.Script{File: "deploy.sh"}
		s.Container.Options = "--memory 1g"
	}), func(in *StepInput) {
		in.BaseDir = base
		in.Vars.Set(ContainerOptionsVariable, "--cpus 2", false)
		in.Vars.Set("Octopus.Machine.Name", "custom", false)
	})
	if err != nil {
		t.Fatal(err)
	}
	// A script file is sent as it is: #{} is substituted in inline scripts only.
	if string(st.Script) != "#!/bin/sh\necho #{Env}\n" || st.Syntax != "sh" {
		t.Errorf("script %q, syntax %q", st.Script, st.Syntax)
	}
	if !cmp.Equal(st.ContainerOptions, []string{"--cpus", "2", "--memory", "1g"}) {
		t.Errorf("container options %q", st.ContainerOptions)
	}
	if !st.AllowPrivileged || st.ArtifactsDir != filepath.Join("out", "Deploy App") {
		t.Errorf("privileged %v, artifacts %q", st.AllowPrivileged, st.ArtifactsDir)
	}
	if st.External == nil || st.External.BundleDir != filepath.Join(home, "calamari") || st.External.Command != "{bundle}/run {script}" {
		t.Errorf("external runner %+v", st.External)
	}
	for name, want := range map[string]string{"Octopus.Action.Name": "Deploy App", "Octopus.Step.Name": "Deploy App",
		"Octopus.Machine.Name": "custom", "Octopus.Action.Container.Image": "alpine:3", "Env": "prod"} {
		if v, _ := variable(st, name); v != want {
			t.Errorf("%s = %q, want %q", name, v, want)
		}
	}

	tests := []struct {
		name    string
		script  config.Script
		options string
		want    string
		wantErr string
	}{
		{name: "inline, substituted, bash by default", script: config.Script{Inline: "echo #{Env}"}, want: "bash:echo prod"},
		{name: "an absolute file", script: config.Script{File: filepath.Join(base, "deploy.sh"), Syntax: "bash"}, want: "bash:#!/bin/sh\necho #{Env}\n"},
		{name: "a missing file", script: config.Script{File: "nope.sh"}, wantErr: "script file: open "},
		{name: "PowerShell", script: config.Script{Inline: "Write-Host hi", Syntax: "pwsh"}, wantErr: `script syntax "pwsh": want bash or sh`},
		{name: "a sensitive variable in an inline script", script: config.Script{Inline: "echo #{Secret}"}, wantErr: "refers to sensitive variable #{Secret}"},
		{name: "options that do not split", script: config.Script{Inline: "true"}, options: "--label 'x", wantErr: "container options"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, err := buildStep(t, &config.Config{}, step("s", "w1", func(s *config.RunbookStep) { s.Script, s.Container.Options = tt.script, tt.options }),
				func(in *StepInput) { in.BaseDir = base; in.Vars.Set("Secret", "hunter2", true) })
			if err != nil && strings.Contains(err.Error(), "hunter2") {
				t.Fatalf("the secret is in the error: %v", err)
			}
			if expectError(t, err, tt.wantErr) {
				return
			}
			if got := st.Syntax + ":" + string(st.Script); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
			if st.AllowPrivileged || st.External != nil {
				t.Errorf("privileged %v, external %+v without a config that says so", st.AllowPrivileged, st.External)
			}
		})
	}
}

func TestPackageScript(t *testing.T) {
	pkgs := []remote.Package{{Name: "Deploy", Extract: true}, {Name: "Raw"}}
	got, err := packageScript(config.Script{Package: "Deploy", File: "scripts/deploy.sh", Parameters: `-Environment "prod"`}, pkgs)
	if err != nil {
		t.Fatal(err)
	}
	if want := "cd -- Deploy || exit 1\nset -- -Environment \"prod\"\n. ./scripts/deploy.sh\n"; string(got) != want {
		t.Errorf("got %q, want %q", got, want)
	}
	for _, bad := range []config.Script{
		{Package: "Nope", File: "a.sh"},
		{Package: "Raw", File: "a.sh"},
		{Package: "Deploy", File: "../a.sh"},
		{Package: "Deploy", File: "/etc/a.sh"},
		{Package: "Deploy", File: ""},
	} {
		if _, err := packageScript(bad, pkgs); err == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
}
