package octostache

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

var utf8BOM = []byte{0xEF, 0xBB, 0xBF}

// SubstituteFile evaluates the file at path as a template and writes the
// result to target (path itself when target is ""), keeping the file's
// mode and a UTF-8 byte order mark, as Octopus's "substitute variables in
// files" does. Unresolved expressions are left as written: the file is
// written and the *UnresolvedError returned, for the caller to log or fail
// on. Any other error leaves target untouched.
func SubstituteFile(path, target string, vars *Variables, opt Options) error {
	if target == "" {
		target = path
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("substitute variables in %s: %w", path, err)
	}
	info, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("substitute variables in %s: %w", path, err)
	}
	bom := bytes.HasPrefix(b, utf8BOM)
	r, err := vars.Render(string(bytes.TrimPrefix(b, utf8BOM)), opt)
	if err != nil {
		return fmt.Errorf("substitute variables in %s: %w", path, err)
	}
	out := []byte(r.Text)
	if bom {
		out = append(append([]byte(nil), utf8BOM...), out...)
	}
	tmp, err := os.CreateTemp(filepath.Dir(target), ".substitute-*")
	if err != nil {
		return fmt.Errorf("substitute variables in %s: %w", path, err)
	}
	_, werr := tmp.Write(out)
	cerr := tmp.Close()
	if err := errors.Join(werr, cerr, os.Chmod(tmp.Name(), info.Mode().Perm())); err != nil {
		_ = os.Remove(tmp.Name())
		return fmt.Errorf("substitute variables in %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), target); err != nil {
		_ = os.Remove(tmp.Name())
		return fmt.Errorf("substitute variables in %s: %w", path, err)
	}
	if len(r.Unresolved) > 0 {
		return fmt.Errorf("substitute variables in %s: %w", path, &UnresolvedError{Tokens: r.Unresolved})
	}
	return nil
}
