package transport

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/cuttle-sh/cuttle/internal/secret"
)

func TestParseAddress(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    Target
		wantErr string
	}{
		{name: "url", in: "ssh://deploy@10.0.0.5:2222", want: Target{User: "deploy", Host: "10.0.0.5", Port: 2222}},
		{name: "scp-like", in: "deploy@host", want: Target{User: "deploy", Host: "host"}},
		{name: "bare host", in: "host:22", want: Target{Host: "host", Port: 22}},
		{name: "ipv6", in: "ssh://u@[::1]:2200", want: Target{User: "u", Host: "::1", Port: 2200}},
		{name: "password refused and not echoed", in: "ssh://u:hunter2@h", wantErr: "u:REDACTED@h"},
		{name: "scp-like password refused", in: "u:hunter2@h:22", wantErr: "not allowed"},
		{name: "bad port", in: "u@h:99999", wantErr: "not a number from 1 to 65535"},
		{name: "path", in: "ssh://u@h/x", wantErr: "want ssh://"},
		{name: "other scheme", in: "http://h", wantErr: "want ssh://"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseAddress(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || strings.Contains(err.Error(), "hunter2") {
					t.Fatalf("ParseAddress(%q) error = %v, want %q and no password", tt.in, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got, cmpopts.EquateComparable(secret.Value{})); diff != "" {
				t.Errorf("ParseAddress(%q) (-want +got):\n%s", tt.in, diff)
			}
		})
	}
}

func TestTargetStringHidesAuth(t *testing.T) {
	tg := Target{User: "u", Host: "h", Port: 2, IdentityFiles: []string{"/k"}}
	if got := tg.String(); got != "u@h:2" {
		t.Fatalf("String = %q", got)
	}
}

func newTestSecret() secret.Value { return secret.New("pw") }
