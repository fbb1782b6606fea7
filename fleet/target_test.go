package fleet

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/cuttle-sh/cuttle/config"
	"github.com/cuttle-sh/cuttle/internal/secret"
	"github.com/cuttle-sh/cuttle/transport"
)

// testHome makes a home directory for ~ and a default ~/.ssh/config.
func testHome(t *testing.T) string {
	t.Helper()
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("USER", "me")
	prev := thisHost
	thisHost = func() config.Host {
		h := config.ThisHost()
		h.SystemSSHDir = filepath.Join(home, "etc-ssh")
		return h
	}
	t.Cleanup(func() { thisHost = prev })
	return home
}

// compareTargets compares everything but the password, which is checked
// through IsSet.
var compareTargets = cmpopts.IgnoreFields(transport.Target{}, "Password")

func TestResolveConfigWorker(t *testing.T) {
	home := testHome(t)
	t.Setenv("CUTTLE_TEST_PW", "pw")
	cfg := &config.Config{Workers: map[string]config.Worker{
		"build":   {Host: "10.0.0.5", Port: 2222, User: "deploy", IdentityFile: "~/.ssh/build_key", KnownHosts: "~/kh", Jump: "mid", PasswordEnv: "CUTTLE_TEST_PW"},
		"mid":     {Host: "10.0.0.2", User: "ops", Jump: "bastion"},
		"bastion": {Host: "bastion.example.com", HostKeyFingerprint: "SHA256:bastion"},
	}}
	d := Defaults{Identities: []string{"/keys/extra"}, Fingerprint: "SHA256:flag", ConnectTimeout: 5 * time.Second, KeepAlive: 7 * time.Second, AcceptNew: true, SSHConfig: "none"}
	got, err := Resolve(cfg, "build", d)
	if err != nil {
		t.Fatal(err)
	}
	hop := func(host, user, fp string) transport.Target {
		return transport.Target{Host: host, User: user, IdentityFiles: []string{"/keys/extra"}, UseAgent: true, AcceptNew: true, HostKeyFingerprint: fp,
			KnownHostsFiles: []string{filepath.Join(home, ".ssh/known_hosts"), filepath.Join(home, "etc-ssh/ssh_known_hosts")}, ConnectTimeout: 5 * time.Second, KeepAliveInterval: 7 * time.Second}
	}
	want := transport.Target{Host: "10.0.0.5", Port: 2222, User: "deploy",
		IdentityFiles: []string{filepath.Join(home, ".ssh/build_key"), "/keys/extra"}, UseAgent: true, AcceptNew: true,
		KnownHostsFiles: []string{filepath.Join(home, "kh")}, HostKeyFingerprint: "SHA256:flag",
		ConnectTimeout: 5 * time.Second, KeepAliveInterval: 7 * time.Second,
		// The outermost hop first; a pinned fingerprint is the worker's own.
		Jump: []transport.Target{hop("bastion.example.com", "", "SHA256:bastion"), hop("10.0.0.2", "ops", "")},
	}
	want.Jump[0].User = "me" // $USER, as ssh does
	if diff := cmp.Diff(want, got, compareTargets); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if !got.Password.IsSet() || got.Jump[0].Password.IsSet() {
		t.Errorf("password set: worker %v, bastion %v", got.Password.IsSet(), got.Jump[0].Password.IsSet())
	}
	if s := got.String(); s != "deploy@10.0.0.5:2222" {
		t.Errorf("String() = %q", s)
	}
}

func TestResolveDefaults(t *testing.T) {
	testHome(t)
	cfg := &config.Config{Workers: map[string]config.Worker{
		"w":       {Host: "10.0.0.5", HostKeyFingerprint: "SHA256:own"},
		"bastion": {Host: "10.0.0.1", User: "hop"},
	}}
	got, err := Resolve(cfg, "w", Defaults{KnownHosts: "/flag/kh", Fingerprint: "SHA256:flag", Jump: "bastion", Password: secret.New("x"), SSHConfig: "none"})
	if err != nil {
		t.Fatal(err)
	}
	if got.HostKeyFingerprint != "SHA256:own" || !cmp.Equal(got.KnownHostsFiles, []string{"/flag/kh"}) || got.User != "me" || !got.Password.IsSet() {
		t.Errorf("worker: %+v", got)
	}
	if len(got.Jump) != 1 || got.Jump[0].User != "hop" || got.Jump[0].HostKeyFingerprint != "" {
		t.Errorf("--jump from the defaults: %+v", got.Jump)
	}
}

func TestResolveErrors(t *testing.T) {
	testHome(t)
	cfg := &config.Config{Workers: map[string]config.Worker{
		"a":     {Host: "10.0.0.1", Jump: "b"},
		"b":     {Host: "10.0.0.2", Jump: "a"},
		"pw":    {Host: "10.0.0.3", PasswordEnv: "CUTTLE_TEST_UNSET"},
		"viapw": {Host: "10.0.0.4", Jump: "pw"},
	}}
	tests := []struct{ name, worker, sshConfig, want string }{
		{"a jump loop", "a", "none", "worker a: its jump chain loops back to itself"},
		{"an unset password_env", "pw", "none", "worker pw: password_env CUTTLE_TEST_UNSET is not set"},
		{"a hop's error names the worker", "viapw", "none", "jump host of viapw: worker pw: password_env"},
		{"neither a worker nor an address", "ssh://[x", "none", "the worker is neither in the config nor an address"},
		{"a password in the address", "ssh://u:hunter2@h", "none", "a password in the address is not allowed"},
		{"a named ssh config that is missing", "host", "/nonexistent/ssh_config", "ssh config /nonexistent/ssh_config: "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Resolve(cfg, tt.worker, Defaults{SSHConfig: tt.sshConfig})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("the password is in the error: %v", err)
			}
		})
	}
}

const sshConfigText = `
Host web
  HostName %h.example.com
  User webuser
  Port 2200
  IdentityFile ~/.ssh/id_%h
  IdentityFile /keys/second
  IdentitiesOnly yes
  UserKnownHostsFile ~/.ssh/kh1 /etc/kh2
  StrictHostKeyChecking accept-new
  ServerAliveInterval 7
  ConnectTimeout 9
  ProxyJump jumpbox

Host jumpbox
  HostName 192.0.2.1
  User jumper
  ProxyJump none

Host lax
  StrictHostKeyChecking no

Host badport
  Port twenty

Host *
  User fallback
`

func writeSSHConfig(t *testing.T, home string) string {
	t.Helper()
	p := filepath.Join(home, ".ssh", "config")
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(sshConfigText), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestResolveSSHConfig(t *testing.T) {
	home := testHome(t)
	writeSSHConfig(t, home)
	empty := &config.Config{}
	got, err := Resolve(empty, "web", Defaults{}) // ~/.ssh/config by default
	if err != nil {
		t.Fatal(err)
	}
	want := transport.Target{Host: "web.example.com", Port: 2200, User: "webuser",
		IdentityFiles: []string{filepath.Join(home, ".ssh/id_web"), "/keys/second"}, UseAgent: false,
		KnownHostsFiles: []string{filepath.Join(home, ".ssh/kh1"), "/etc/kh2"}, AcceptNew: true,
		ConnectTimeout: 9 * time.Second, KeepAliveInterval: 7 * time.Second,
		Jump: []transport.Target{{Host: "192.0.2.1", User: "jumper", UseAgent: true, KnownHostsFiles: []string{filepath.Join(home, ".ssh/known_hosts"), filepath.Join(home, "etc-ssh/ssh_known_hosts")}}},
	}
	if diff := cmp.Diff(want, got, compareTargets); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}

	// What the address and the flags say wins over the file.
	got, err = Resolve(empty, "ssh://other@web:22", Defaults{KnownHosts: "/flag/kh", Jump: "ssh://hop@192.0.2.9"})
	if err != nil {
		t.Fatal(err)
	}
	if got.User != "other" || got.Port != 22 || !cmp.Equal(got.KnownHostsFiles, []string{"/flag/kh"}) || len(got.Jump) != 1 || got.Jump[0].Host != "192.0.2.9" {
		t.Errorf("explicit values lost to the ssh config: %+v", got)
	}

	// A Host * default applies to any name; "none" ignores the file.
	if got, _ := Resolve(empty, "ssh://plain", Defaults{}); got.User != "fallback" {
		t.Errorf("Host * User: %q", got.User)
	}
	if got, _ := Resolve(empty, "ssh://plain", Defaults{SSHConfig: "none"}); got.User != "me" {
		t.Errorf("with --ssh-config none: user %q", got.User)
	}
	// A bare name that is neither a worker nor an alias is a typo, not a
	// host to look up: refused with what there is.
	cfgW := &config.Config{File: "cuttle.yaml", Workers: map[string]config.Worker{"w1": {Host: "h"}, "w2": {Host: "h"}}}
	if _, err := Resolve(cfgW, "w3", Defaults{}); err == nil || !strings.Contains(err.Error(), `worker "w3" is not in the config (cuttle.yaml: w1, w2) nor an ssh_config alias (~/.ssh/config: badport, jumpbox, lax, web)`) {
		t.Errorf("typo of a worker name: err = %v", err)
	}
	// A config worker's entry is not mixed with the ssh config.
	cfg := &config.Config{Workers: map[string]config.Worker{"web": {Host: "10.0.0.8"}}}
	if got, _ := Resolve(cfg, "web", Defaults{}); got.Host != "10.0.0.8" || got.User != "me" || got.Port != 0 {
		t.Errorf("config worker web: %+v", got)
	}

	for alias, want := range map[string]string{
		"lax":     "StrictHostKeyChecking no: cuttle never trusts an unverified host key",
		"badport": `Port "twenty" is not a number`,
	} {
		if _, err := Resolve(empty, alias, Defaults{}); err == nil || !strings.Contains(err.Error(), "ssh config, Host "+alias+": ") || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: err = %v, want %q", alias, err, want)
		}
	}
}

func TestLoadSSHConfig(t *testing.T) {
	dir := t.TempDir()
	if c, err := loadSSHConfig(filepath.Join(dir, "missing"), false); c != nil || err != nil {
		t.Errorf("a missing default file: %v, %v", c, err)
	}
	if _, err := loadSSHConfig(filepath.Join(dir, "missing"), true); err == nil {
		t.Error("a missing named file: no error")
	}
	bad := filepath.Join(dir, "bad")
	os.WriteFile(bad, []byte("Match exec \"true\"\n  User x\n"), 0o600)
	if _, err := loadSSHConfig(bad, true); err == nil || !strings.Contains(err.Error(), "ssh config "+bad+": ") || !strings.Contains(err.Error(), "Match Exec is not supported") {
		t.Errorf("a file ssh_config cannot read: %v", err)
	}
	if c, err := loadSSHConfig("none", true); c != nil || err != nil {
		t.Errorf("none: %v, %v", c, err)
	}
}

func TestPoolsAndSelection(t *testing.T) {
	cfg := testConfig()
	cfg.Pools["empty"] = config.Pool{}
	if got, err := PoolMembers(cfg, "linux"); err != nil || !cmp.Equal(got, []string{"a", "b", "c"}) {
		t.Errorf("PoolMembers(linux) = %v, %v", got, err)
	}
	if _, err := PoolMembers(cfg, "gpu"); err == nil || err.Error() != `pool "gpu" is not defined in the config (pools: empty, linux)` {
		t.Errorf("PoolMembers(gpu): %v", err)
	}
	if _, err := PoolMembers(cfg, "empty"); err == nil || err.Error() != `pool "empty" has no workers` {
		t.Errorf("PoolMembers(empty): %v", err)
	}
	tests := []struct {
		name    string
		names   []string
		pool    string
		want    []string
		wantErr string
	}{
		{"names as given", []string{"w2", "ssh://x@h"}, "", []string{"w2", "ssh://x@h"}, ""},
		{"a pool", nil, "linux", []string{"a", "b", "c"}, ""},
		{"every worker, sorted", nil, "", []string{"a", "b", "c", "w1", "w2"}, ""},
		{"names and a pool", []string{"a"}, "linux", nil, "give worker names or --pool, not both"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Selection(cfg, tt.names, tt.pool)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || !cmp.Equal(got, tt.want) {
				t.Errorf("Selection = %v, %v; want %v", got, err, tt.want)
			}
		})
	}
	if _, err := Selection(&config.Config{}, nil, ""); err == nil || !strings.Contains(err.Error(), "no workers") {
		t.Errorf("an empty config: %v", err)
	}
}

func TestExpandHome(t *testing.T) {
	home := testHome(t)
	for in, want := range map[string]string{"~/k": filepath.Join(home, "k"), "/abs/k": "/abs/k", "~other/k": "~other/k", "rel/k": "rel/k"} {
		if got := ExpandHome(in); got != want {
			t.Errorf("ExpandHome(%q) = %q, want %q", in, got, want)
		}
	}
}
