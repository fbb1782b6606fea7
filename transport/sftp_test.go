package transport

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/cuttle-sh/cuttle/internal/sshtest"
)

// failingReader gives n bytes, then fails.
type failingReader struct{ n int }

func (r *failingReader) Read(p []byte) (int, error) {
	if r.n == 0 {
		return 0, errors.New("source broke")
	}
	k := min(len(p), r.n)
	for i := range k {
		p[i] = 'z'
	}
	r.n -= k
	return k, nil
}

// listDir names the entries of dir.
func listDir(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

// TestUpload: the file appears whole with its mode, or not at all (an
// existing one stays as it was), and no temporary file is left either way.
func TestUpload(t *testing.T) {
	big := bytes.Repeat([]byte("0123456789abcdef"), 64<<10) // 1 MiB
	tests := []struct {
		name string
		// version is the server's identification: an OpenSSH server
		// gets larger SFTP packets.
		version  string
		existing string
		src      func(cancel func()) io.Reader
		into     string // relative to the directory; "" is "file"
		want     []byte // the file afterwards (nil: absent)
		wantErr  string
		wantIs   error
	}{
		{
			name: "new file",
			src:  func(func()) io.Reader { return bytes.NewReader(big) },
			want: big,
		},
		{
			name:    "new file, OpenSSH packet size",
			version: "SSH-2.0-OpenSSH_9.6",
			src:     func(func()) io.Reader { return bytes.NewReader(big) },
			want:    big,
		},
		{
			name:     "replaces an existing file",
			existing: "old",
			src:      func(func()) io.Reader { return strings.NewReader("new") },
			want:     []byte("new"),
		},
		{
			name:     "source fails midway",
			existing: "old",
			src:      func(func()) io.Reader { return &failingReader{n: 100 << 10} },
			want:     []byte("old"),
			wantErr:  "source broke",
		},
		{
			name:     "cancelled midway",
			existing: "old",
			src: func(cancel func()) io.Reader {
				return io.MultiReader(bytes.NewReader(big), readerFunc(func([]byte) (int, error) {
					cancel()
					return 0, errors.New("cancelled source")
				}))
			},
			want:   []byte("old"),
			wantIs: context.Canceled,
		},
		{
			name:    "directory missing",
			into:    "absent/file",
			src:     func(func()) io.Reader { return strings.NewReader("x") },
			wantErr: "sftp create " + "DIR/absent/",
			wantIs:  fs.ErrNotExist,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, tg := newWorker(t, sshtest.Config{SFTP: true, Version: tt.version})
			c := dial(t, tg)
			dir := t.TempDir()
			into := tt.into
			if into == "" {
				into = "file"
			}
			dest := filepath.Join(dir, into)
			if tt.existing != "" {
				if err := os.WriteFile(dest, []byte(tt.existing), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			ctx, cancel := context.WithCancel(testContext(t))
			defer cancel()
			err := c.Upload(ctx, dest, tt.src(cancel), 0o750)
			switch {
			case tt.wantErr == "" && tt.wantIs == nil && err != nil:
				t.Fatalf("Upload: %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), strings.Replace(tt.wantErr, "DIR", dir, 1))):
				t.Errorf("err = %v, want %q", err, tt.wantErr)
			case tt.wantIs != nil && !errors.Is(err, tt.wantIs):
				t.Errorf("err = %v, want %v", err, tt.wantIs)
			}
			got, rerr := os.ReadFile(dest)
			if tt.want == nil {
				if !errors.Is(rerr, fs.ErrNotExist) {
					t.Errorf("%s exists after a failed upload", into)
				}
			} else if !bytes.Equal(got, tt.want) {
				t.Errorf("%s holds %d bytes, want %d", into, len(got), len(tt.want))
			}
			if fi, err := os.Stat(dest); tt.want != nil && tt.existing == "" && (err != nil || fi.Mode().Perm() != 0o750) {
				t.Errorf("mode %v (%v), want 0750", fi.Mode().Perm(), err)
			}
			if tt.into == "" {
				if diff := cmp.Diff([]string{"file"}, listDir(t, dir)); diff != "" {
					t.Errorf("left in the directory (-want +got):\n%s", diff)
				}
			}
			if sessions, calls := c.Exchanges(); sessions != 1 || calls != 1 {
				t.Errorf("Exchanges = %d sessions, %d SFTP calls; want 1, 1", sessions, calls)
			}
		})
	}
}

type readerFunc func([]byte) (int, error)

func (f readerFunc) Read(p []byte) (int, error) { return f(p) }

// TestDownloadAndInspect: Download returns the bytes with their length
// and sha256; RealPath and Lstat see the remote file system.
func TestDownloadAndInspect(t *testing.T) {
	_, tg := newWorker(t, sshtest.Config{SFTP: true})
	c := dial(t, tg)
	dir := t.TempDir()
	content := bytes.Repeat([]byte("data"), 50_000)
	file := filepath.Join(dir, "f")
	if err := os.WriteFile(file, content, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(file, filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	var got bytes.Buffer
	n, sum, err := c.Download(testContext(t), file, &got)
	want := sha256.Sum256(content)
	if err != nil || n != int64(len(content)) || sum != hex.EncodeToString(want[:]) || !bytes.Equal(got.Bytes(), content) {
		t.Errorf("Download = %d, %s, %v; want %d bytes, %x", n, sum, err, len(content), want)
	}
	if _, _, err := c.Download(testContext(t), filepath.Join(dir, "absent"), io.Discard); !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), "absent") {
		t.Errorf("Download of a missing file: %v, want ErrNotExist naming it", err)
	}
	// (OpenSSH's sftp-server also resolves symlinks; pkg/sftp's server
	// only cleans the path.)
	if p, err := c.RealPath(testContext(t), dir+"/sub/../f"); err != nil || p != file {
		t.Errorf("RealPath = %q, %v; want %q", p, err, file)
	}
	if fi, err := c.Lstat(testContext(t), filepath.Join(dir, "link")); err != nil || fi.Mode()&fs.ModeSymlink == 0 {
		t.Errorf("Lstat = %v, %v; want a symlink", fi, err)
	}
	if _, err := c.Lstat(testContext(t), filepath.Join(dir, "absent")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Lstat of a missing file: %v, want ErrNotExist", err)
	}
	// One subsystem session carried all five calls.
	if sessions, calls := c.Exchanges(); sessions != 1 || calls != 5 {
		t.Errorf("Exchanges = %d sessions, %d SFTP calls; want 1, 5", sessions, calls)
	}
}

// TestSFTPSubsystemMissing: a server without the sftp subsystem gets an
// error that names the setting to check.
func TestSFTPSubsystemMissing(t *testing.T) {
	_, tg := newWorker(t, sshtest.Config{SFTP: false})
	c := dial(t, tg)
	err := c.Upload(testContext(t), filepath.Join(t.TempDir(), "f"), strings.NewReader("x"), 0o600)
	if err == nil || !strings.Contains(err.Error(), "is the sftp subsystem enabled in sshd_config?") {
		t.Fatalf("err = %v, want the sftp subsystem named", err)
	}
}

// TestSFTPAfterReconnect: the SFTP client belongs to the link, so after a
// reconnect uploads run on a new subsystem session.
func TestSFTPAfterReconnect(t *testing.T) {
	b := newBlocker()
	srv, tg := newWorker(t, sshtest.Config{SFTP: true, Handler: b.handle})
	c := dial(t, tg)
	dir := t.TempDir()
	if err := c.Upload(testContext(t), filepath.Join(dir, "a"), strings.NewReader("a"), 0o600); err != nil {
		t.Fatal(err)
	}
	dropUnderCommand(t, c, srv, b)
	if err := c.Upload(testContext(t), filepath.Join(dir, "b"), strings.NewReader("b"), 0o600); !errors.Is(err, ErrConnectionLost) {
		t.Fatalf("Upload on a dropped link: %v, want ErrConnectionLost", err)
	}
	if err := c.Reconnect(testContext(t)); err != nil {
		t.Fatal(err)
	}
	if err := c.Upload(testContext(t), filepath.Join(dir, "b"), strings.NewReader("b"), 0o600); err != nil {
		t.Fatalf("Upload after Reconnect: %v", err)
	}
	if diff := cmp.Diff([]string{"a", "b"}, listDir(t, dir)); diff != "" {
		t.Errorf("files (-want +got):\n%s", diff)
	}
}
