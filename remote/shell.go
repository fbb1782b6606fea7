package remote

import (
	"context"
	"io"
	"io/fs"

	"github.com/cuttle-sh/cuttle/transport"
)

// Shell is what remote needs from a connection to a worker.
// *transport.Conn implements it; tests may fake it.
type Shell interface {
	Run(ctx context.Context, cmd *transport.Cmd) error
	Upload(ctx context.Context, remotePath string, r io.Reader, mode fs.FileMode) error
	Download(ctx context.Context, remotePath string, w io.Writer) (int64, string, error)
	RealPath(ctx context.Context, p string) (string, error)
	Lstat(ctx context.Context, p string) (fs.FileInfo, error)
	String() string
}
