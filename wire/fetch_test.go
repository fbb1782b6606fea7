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
