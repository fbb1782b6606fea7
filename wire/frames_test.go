package wire

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"testing"
)

// FuzzFrames: whatever the two streams carry and however the framed
// stream is chunked on its way, each side gets back exactly its bytes,
// and the exit code sent last arrives whole.
func FuzzFrames(f *testing.F) {
	f.Add([]byte("hello\n"), []byte("warn\n"), uint64(1))
	f.Add(bytes.Repeat([]byte{0}, 300<<10), []byte{}, uint64(7))
	f.Fuzz(func(t *testing.T, out, errb []byte, seed uint64) {
		var wire bytes.Buffer
		fr := NewFramer(&wire)
		so, se := fr.Stdout(), fr.Stderr()
		rng := rand.New(rand.NewPCG(seed, 1))
		// Interleave the two streams in random pieces, some through
		// ReadFrom as io.Copy from a file does.
		o, e := out, errb
		for len(o) > 0 || len(e) > 0 {
			w, src := so, &o
			if len(o) == 0 || (len(e) > 0 && rng.IntN(2) == 0) {
				w, src = se, &e
			}
			n := 1 + rng.IntN(len(*src))
			if rng.IntN(2) == 0 {
				w.Write((*src)[:n])
			} else {
				io.Copy(w, bytes.NewReader((*src)[:n]))
			}
			*src = (*src)[n:]
		}
		code := int(seed % 256)
		if err := fr.Exit(code); err != nil {
			t.Fatal(err)
		}
		var gotOut, gotErr bytes.Buffer
		u := &Unframer{Stdout: &gotOut, Stderr: &gotErr}
		b := wire.Bytes()
		for len(b) > 0 {
			n := 1 + rng.IntN(min(len(b), 4096))
			if _, err := u.Write(b[:n]); err != nil {
				t.Fatal(err)
			}
			b = b[n:]
		}
		if u.Partial() {
			t.Fatal("complete stream reported partial")
		}
		if !bytes.Equal(gotOut.Bytes(), out) || !bytes.Equal(gotErr.Bytes(), errb) {
			t.Fatalf("streams differ: stdout %d/%d bytes, stderr %d/%d bytes", gotOut.Len(), len(out), gotErr.Len(), len(errb))
		}
		if got, ok := u.ExitCode(); !ok || got != code {
			t.Fatalf("exit code %d (%v), want %d", got, ok, code)
		}
	})
}

// TestUnframerRefusesText: plain text (a shell's error) on the framed
// stream is an error, never output.
func TestUnframerRefusesText(t *testing.T) {
	var out bytes.Buffer
	u := &Unframer{Stdout: &out, Stderr: &out}
	_, err := u.Write([]byte("bash: line 1: /home/x/.cuttle/bundles/d/cuttle: No such file or directory\n"))
	if !errors.Is(err, ErrBadFrame) {
		t.Fatalf("err = %v, want ErrBadFrame", err)
	}
	if strings.Contains(out.String(), "No such") || out.Len() > 0 {
		t.Fatalf("text passed as output: %q", out.String())
	}
}

// TestUnframerExitCodeWhileWriting: the controller asks for the exit code
// while the follower's session still writes frames (go test -race finds
// the two unsynchronised without Unframer's lock); once the exit frame is
// whole, the code is the one sent.
func TestUnframerExitCodeWhileWriting(t *testing.T) {
	var stream bytes.Buffer
	f := NewFramer(&stream)
	for i := range 200 {
		fmt.Fprintf(f.Stdout(), "line %d\n", i)
	}
	f.Exit(42)
	u := &Unframer{Stdout: io.Discard, Stderr: io.Discard}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for b := stream.Bytes(); len(b) > 0; b = b[min(3, len(b)):] {
			u.Write(b[:min(3, len(b))])
		}
	}()
	for {
		if code, ok := u.ExitCode(); ok {
			if code != 42 {
				t.Fatalf("exit code %d, want 42", code)
			}
			break
		}
		_ = u.Partial()
		select {
		case <-done:
			if code, ok := u.ExitCode(); !ok || code != 42 {
				t.Fatalf("after the whole stream, exit code %d %v, want 42", code, ok)
			}
			return
		default:
		}
	}
	<-done
}
