//go:build integration

package integration

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/cuttle-sh/cuttle/transport"
)

// TestMaxSessionsOpensMoreConnections: sshd allows one session per
// connection; SFTP holds one and four commands run at once anyway.
func TestMaxSessionsOpensMoreConnections(t *testing.T) {
	t.Parallel()
	s := newSSHD(t, "MaxSessions 1")
	conn, err := transport.Dial(t.Context(), transport.Target{Host: s.Host, Port: s.Port, User: workerUser,
		IdentityFiles: []string{env.key.PrivateFile}, KnownHostsFiles: []string{s.KnownHosts}})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.SFTP(); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make([]error, 4)
	outs := make([]string, 4)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out, _, err := conn.Output(context.Background(), "sh", "-c", fmt.Sprintf("sleep 0.5; echo %d", i))
			outs[i], errs[i] = strings.TrimSpace(string(out)), err
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil || outs[i] != fmt.Sprint(i) {
			t.Errorf("command %d: %q, %v", i, outs[i], err)
		}
	}
}
