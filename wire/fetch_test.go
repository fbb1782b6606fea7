package wire

import (
	"fmt"
	"strings"
	"testing"
)

func TestIsLoopback(t *testing.T) {
	for host, want := range map[string]bool{
		"127.0.0.1:5000": true, "localhost": true, "localhost:443": true, "[::1]:5000": true, "127.8.9.1": true,
		"registry.example.com": false, "10.0.0.1:5000": false, "localhost.example.com": false, "": false,
	} {
		if got := IsLoopback(host); got != want {
			t.Errorf("IsLoopback(%q) = %v, want %v", host, got, want)
		}
	}
}

// TestPackageFetchPrinted: a request printed by mistake shows no password.
func TestPackageFetchPrinted(t *testing.T) {
	req := PackageFetch{Source: PackageSource{Registry: "r", Repository: "a"}, Username: "ci", Password: "hunter2"}
	for _, s := range []string{fmt.Sprint(req), fmt.Sprintf("%+v", req), fmt.Sprintf("%#v", req), fmt.Sprintf("%v", &req)} {
		if strings.Contains(s, "hunter2") || !strings.Contains(s, "[REDACTED]") {
			t.Errorf("printed: %s", s)
		}
	}
}

func TestFetchProgressLines(t *testing.T) {
	line := FormatFetchProgress(1234, -1)
	if done, total, ok := ParseFetchProgress(line[:len(line)-1]); !ok || done != 1234 || total != -1 {
		t.Errorf("%q read back as %d %d %v", line, done, total, ok)
	}
	for _, bad := range []string{"cuttle: package Web: GET ...", "cuttle-progress 12", "cuttle-progress x 3", "cuttle-progress -1 3", "progress 1 2"} {
		if _, _, ok := ParseFetchProgress(bad); ok {
			t.Errorf("%q was read as progress", bad)
		}
	}
}
