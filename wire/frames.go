package wire

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strconv"
	"sync"
)

// The follower sends both of a step's encrypted logs on its stdout, in
// frames: one byte naming the stream (1 stdout, 2 stderr, 3 the exit
// code once the step ended), four bytes of big-endian length, then that
// many bytes. Its stderr stays plain text for whatever goes wrong on the worker
// host (a shell that cannot start the runner, a runner that cannot read
// the logs), so a diagnostic is never mistaken for ciphertext and
// "decrypted" into the step's output.
const (
	frameStdout     byte = 1
	frameStderr     byte = 2
	frameExit       byte = 3 // the step's exit code, in decimal, last
	frameHeader          = 5
	maxFramePayload      = 256 << 10
)

// Framer writes frames to w; its streams may be used from one goroutine
// each.
type Framer struct {
	mu  sync.Mutex
	w   io.Writer
	buf []byte
}

// NewFramer frames writes to w.
func NewFramer(w io.Writer) *Framer { return &Framer{w: w} }

// Stdout and Stderr are the framed streams.
func (f *Framer) Stdout() io.Writer { return &framedStream{f: f, id: frameStdout} }
func (f *Framer) Stderr() io.Writer { return &framedStream{f: f, id: frameStderr} }

type framedStream struct {
	f  *Framer
	id byte
}

func (s *framedStream) Write(p []byte) (int, error) {
	written := 0
	for len(p) > 0 {
		n := min(len(p), maxFramePayload)
		if err := s.f.send(s.id, func(b []byte) int { return copy(b, p[:n]) }, n); err != nil {
			return written, err
		}
		written += n
		p = p[n:]
	}
	return written, nil
}

// ReadFrom reads straight into the frame buffer: one copy and one write
// per frame (io.Copy from a log file takes this path).
func (s *framedStream) ReadFrom(r io.Reader) (int64, error) {
	var total int64
	for {
		var rerr error
		var n int
		err := s.f.send(s.id, func(b []byte) int {
			n, rerr = r.Read(b)
			return n
		}, maxFramePayload)
		total += int64(n)
		if err != nil {
			return total, err
		}
		if rerr == io.EOF {
			return total, nil
		}
		if rerr != nil {
			return total, rerr
		}
	}
}

// Exit sends the step's exit code, after everything else.
func (f *Framer) Exit(code int) error {
	b := strconv.AppendInt(nil, int64(code), 10)
	return f.send(frameExit, func(p []byte) int { return copy(p, b) }, len(b))
}

// send fills up to max payload bytes with fill and writes the frame (none
// for an empty fill).
func (f *Framer) send(id byte, fill func([]byte) int, max int) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.buf) < frameHeader+max {
		f.buf = make([]byte, frameHeader+maxFramePayload)
	}
	n := fill(f.buf[frameHeader : frameHeader+max])
	if n == 0 {
		return nil
	}
	f.buf[0] = id
	binary.BigEndian.PutUint32(f.buf[1:frameHeader], uint32(n))
	_, err := f.w.Write(f.buf[:frameHeader+n])
	return err
}

// Unframer is the controller's end: a writer that takes the follower's
// stdout, however it is chunked, and passes each frame's bytes to the
// writer of its stream.
type Unframer struct {
	Stdout, Stderr io.Writer
	hdr            [frameHeader]byte
	have           int    // header bytes collected
	left           uint32 // payload bytes of the current frame still to come
	to             io.Writer
	exit           []byte
	exited         bool
	// mu lets ExitCode and Partial be asked while the follower's session
	// still writes (the controller looks for the exit code once docker
	// run returns, the follower's output may still be arriving).
	mu sync.Mutex
}

// ErrBadFrame reports a follower stream that is not frames.
var ErrBadFrame = errors.New("the output follower sent something other than frames")

func (u *Unframer) Write(p []byte) (int, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	total := len(p)
	for len(p) > 0 {
		if u.left == 0 {
			n := copy(u.hdr[u.have:], p)
			u.have += n
			p = p[n:]
			if u.have < frameHeader {
				break
			}
			u.have = 0
			u.left = binary.BigEndian.Uint32(u.hdr[1:])
			switch u.hdr[0] {
			case frameStdout:
				u.to = u.Stdout
			case frameStderr:
				u.to = u.Stderr
			case frameExit:
				if u.left > 16 {
					return total - len(p), fmt.Errorf("%w: exit frame of %d bytes", ErrBadFrame, u.left)
				}
				u.exit, u.exited = u.exit[:0], true
				u.to = exitWriter{u}
			default:
				return total - len(p), fmt.Errorf("%w: stream %d", ErrBadFrame, u.hdr[0])
			}
			if u.left == 0 || u.left > maxFramePayload {
				return total - len(p), fmt.Errorf("%w: length %d", ErrBadFrame, u.left)
			}
			continue
		}
		n := min(uint32(len(p)), u.left)
		if _, err := u.to.Write(p[:n]); err != nil {
			return total - len(p), err
		}
		u.left -= n
		p = p[n:]
	}
	return total, nil
}

type exitWriter struct{ u *Unframer }

func (w exitWriter) Write(p []byte) (int, error) {
	w.u.exit = append(w.u.exit, p...)
	return len(p), nil
}

// ExitCode is the step's exit code, once the follower sent it whole.
func (u *Unframer) ExitCode() (int, bool) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if !u.exited || u.partial() {
		return 0, false
	}
	code, err := strconv.Atoi(string(u.exit))
	return code, err == nil
}

// Partial reports a frame cut short: the follower ended mid-frame.
func (u *Unframer) Partial() bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.partial()
}

func (u *Unframer) partial() bool { return u.have > 0 || u.left > 0 }
