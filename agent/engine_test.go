//go:build linux

package agent

import (
	"errors"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
)

// The runner asks the engine about an image over its socket, with the
// name as the docker client sends it, and tells a missing image from
// an answer; where the client would not use a socket it leaves it be.
func TestInspectImageOverTheEngineSocket(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "docker.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	var paths []string
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		paths = append(paths, r.URL.Path)
		if r.URL.Path != "/images/reg.example:5000/team/app:1/json" {
			http.Error(w, `{"message":"No such image"}`, http.StatusNotFound)
			return
		}
		w.Write([]byte(`{"Id":"sha256:abc","Os":"linux","Architecture":"arm64","Config":{"User":"app"}}`))
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })

	id, platform, err := inspectOverSocket(t.Context(), sock, "reg.example:5000/team/app:1")
	if err != nil || id != "sha256:abc" || platform != "linux/arm64" {
		t.Errorf("present image: %q %q %v", id, platform, err)
	}
	if _, _, err := inspectOverSocket(t.Context(), sock, "team/absent:1"); !errors.Is(err, errNoImage) {
		t.Errorf("absent image: %v, want errNoImage", err)
	}
	if _, _, err := inspectOverSocket(t.Context(), sock, "app:1?x=1"); err == nil {
		t.Error("a name with a query was sent to the engine")
	}
	if len(paths) != 2 {
		t.Errorf("the engine was asked %d times (%q), want 2", len(paths), paths)
	}

	home := t.TempDir()
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	for _, c := range []struct {
		what string
		env  map[string]string
		cfg  string
		want string
	}{
		{"defaults", nil, "", "/var/run/docker.sock"},
		{"DOCKER_HOST unix", map[string]string{"DOCKER_HOST": "unix:///run/user/1000/docker.sock"}, "", "/run/user/1000/docker.sock"},
		{"DOCKER_HOST tcp", map[string]string{"DOCKER_HOST": "tcp://10.0.0.1:2376"}, "", ""},
		{"DOCKER_CONTEXT", map[string]string{"DOCKER_CONTEXT": "remote"}, "", ""},
		{"a current context", nil, `{"currentContext":"remote"}`, ""},
		{"the default context", nil, `{"currentContext":"default"}`, "/var/run/docker.sock"},
	} {
		os.RemoveAll(filepath.Join(home, ".docker"))
		if c.cfg != "" {
			os.MkdirAll(filepath.Join(home, ".docker"), 0o700)
			os.WriteFile(filepath.Join(home, ".docker", "config.json"), []byte(c.cfg), 0o600)
		}
		if got := engineSocket(env(c.env), home); got != c.want {
			t.Errorf("%s: socket %q, want %q", c.what, got, c.want)
		}
	}
}
