package serve

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/rs/zerolog"
)

// jsonlImported is the meta key set once runs.jsonl has been imported.
const jsonlImported = "runs.jsonl imported"

// importJSONL imports the runs.jsonl history (and logs/<id>.log) that
// cuttle serve kept before its SQLite store, once: the import and the
// mark that it happened are one transaction. The old files are left in
// place, untouched; once the import is checked they may be removed.
func (s *SQLStore) importJSONL(ctx context.Context) error {
	path := filepath.Join(s.dir, "runs.jsonl")
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var done int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM meta WHERE key = ?`, jsonlImported).Scan(&done); err != nil || done > 0 {
		return err
	}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	n, bad := 0, 0
	for sc.Scan() {
		var r Run
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil || r.ID == "" {
			bad++ // a line cut short by a crash
			continue
		}
		log, _ := os.ReadFile(s.LogPath(r.ID))
		if err := writeRun(ctx, tx, r, log); err != nil {
			return fmt.Errorf("run %s: %w", r.ID, err)
		}
		n++
	}
	if err := sc.Err(); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO meta (key, value) VALUES (?, ?)`, jsonlImported, fmt.Sprint(n)); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	zerolog.Ctx(ctx).Info().Int("runs", n).Int("unreadable_lines", bad).Str("from", path).
		Msg("imported the runs.jsonl history; it is no longer used and may be removed")
	return nil
}
