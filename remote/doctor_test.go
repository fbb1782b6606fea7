package remote

import (
	"strings"
	"testing"
	"time"
)

func TestDiagnose(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	good := map[string]string{"now": "1800000001", "home": "/home/d", "home_writable": "yes", "arch": "x86_64", "groups": "d docker",
		"docker_client": "28.2.2", "docker_server": "20.10.24", "docker_root_free_kb": "99999999", "home_free_kb": "99999999", "git": "yes", "flock": "yes"}
	tests := []struct {
		name    string
		change  map[string]string
		check   string
		status  string
		fixHint string
	}{
		{"healthy", nil, "docker", "ok", ""},
		{"not in docker group", map[string]string{"docker_server": "", "docker_error": "permission denied while trying to connect to the Docker daemon socket"}, "docker", "fail", "usermod -aG docker d"},
		{"engine down", map[string]string{"docker_server": "", "docker_error": "Cannot connect to the Docker daemon"}, "docker", "fail", "systemctl start docker"},
		{"no docker", map[string]string{"docker_missing": "yes"}, "docker", "fail", "apt-get install docker.io"},
		{"old docker", map[string]string{"docker_client": "19.03.1"}, "docker version", "warn", "20.10"},
		{"noexec", map[string]string{"noexec": "yes"}, "noexec", "fail", "noexec"},
		{"disk full", map[string]string{"home_free_kb": "1000"}, "disk (home)", "fail", "cuttle gc"},
		{"clock skew", map[string]string{"now": "1800000300"}, "clock", "warn", "NTP"},
		{"no git", map[string]string{"git": ""}, "git", "warn", "apt-get install git"},
		{"arm worker", map[string]string{"arch": "aarch64"}, "arch", "fail", "linux/arm64"},
		{"engine hung", map[string]string{"docker_server": "", "docker_error": "engine not answering within 10s"}, "docker", "fail", "systemctl start docker"},
		{"home not writable", map[string]string{"home_writable": ""}, "home", "fail", "writable $HOME"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			kv := map[string]string{}
			for k, v := range good {
				kv[k] = v
			}
			for k, v := range tt.change {
				kv[k] = v
			}
			findings := Diagnose(kv, testBundle, now)
			for _, f := range findings {
				if f.Check == tt.check {
					if f.Status != tt.status || !strings.Contains(f.Fix+f.Detail, tt.fixHint) {
						t.Fatalf("finding %+v, want status %s mentioning %q", f, tt.status, tt.fixHint)
					}
					if tt.change == nil && !Healthy(findings) {
						t.Fatalf("healthy worker judged unhealthy: %+v", findings)
					}
					return
				}
			}
			t.Fatalf("no %q finding in %+v", tt.check, findings)
		})
	}
}
