//go:build linux

package serve

import (
	"os"
	"sync"
	"testing"

	"github.com/cuttle-sh/cuttle/internal/testenv"
)

// pg is the PostgreSQL cluster the package's tests share, started by
// the first test that needs it and stopped by TestMain.
var pg struct {
	once sync.Once
	p    *testenv.Postgres
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if pg.p != nil {
		pg.p.Stop()
	}
	os.Exit(code)
}

// postgresDSN returns the URL of a new database of its own for t, with
// the password in $PGPASSWORD.
func postgresDSN(t *testing.T) string {
	t.Helper()
	pg.once.Do(func() { pg.p, pg.err = testenv.StartPostgres() })
	if pg.err != nil {
		testenv.SkipNoPostgres(t, pg.err)
	}
	t.Setenv("PGPASSWORD", pg.p.Password)
	return pg.p.DSN(pg.p.NewDatabase(t))
}
