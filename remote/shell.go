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

// preparer is a Shell that can open a session ahead of the command that
// will use it (*transport.Conn).
type preparer interface {
	Prepare() *transport.Prepared
	RunPrepared(ctx context.Context, p *transport.Prepared, cmd *transport.Cmd) error
}

// prepared is sh whose next Run uses a session opened beforehand (while
// the step runs), saving the round trip of opening it; later Runs open
// their own.
type prepared struct {
	Shell
	pr   preparer
	next *transport.Prepared
}

// prepareNext opens a session for sh's next command, when sh can.
func prepareNext(sh Shell) *prepared {
	p := &prepared{Shell: sh}
	if pr, ok := sh.(preparer); ok {
		p.pr, p.next = pr, pr.Prepare()
	}
	return p
}

func (p *prepared) Run(ctx context.Context, cmd *transport.Cmd) error {
	if p.next == nil {
		return p.Shell.Run(ctx, cmd)
	}
	next := p.next
	p.next = nil
	return p.pr.RunPrepared(ctx, next, cmd)
}

// orShell is p, or sh when p is nil.
func (p *prepared) orShell(sh Shell) Shell {
	if p == nil {
		return sh
	}
	return p
}

// release closes the prepared session if it was not used.
func (p *prepared) release() {
	if p != nil && p.next != nil {
		p.next.Close()
		p.next = nil
	}
}
