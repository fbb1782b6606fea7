package wire

import (
	"crypto/aes"
	"crypto/cipher"
	"encoding/binary"
	"encoding/json"
	"fmt"
)

// The step's output is also kept on the worker, so a controller whose link
// dropped can reattach and resume it: the runner writes what the script
// prints to LogDir inside the work directory, encrypted with a key that
// only the controller and the runner hold (it travels in the payload), so
// a secret the script prints is never readable on the worker's disk. The
// ciphertext of byte i is at offset i: the controller resumes from the
// byte it last received.
const (
	LogDir    = ".cuttle"
	StdoutLog = "stdout.log"
	StderrLog = "stderr.log"
	// ExitFile holds the script's exit code, written once the runner has
	// finished with the work directory.
	ExitFile = "exit"
)

// Stream numbers keep the key streams of the two logs and of the masks
// file apart.
const (
	StreamStdout byte = 1
	StreamStderr byte = 2
	StreamMasks  byte = 3
)

// MasksFile, beside the logs and under the same key, holds the step's
// sensitive values (JSON), so a controller that attaches later (a new
// process, after the first was killed) masks them in the output it
// replays; no secret is readable on either machine's disk.
const MasksFile = "masks"

// DecryptMasks reads a masks file's content.
func DecryptMasks(key, content []byte) ([]string, error) {
	s, err := LogCipher(key, StreamMasks, 0)
	if err != nil {
		return nil, err
	}
	b := make([]byte, len(content))
	s.XORKeyStream(b, content)
	var values []string
	if err := json.Unmarshal(b, &values); err != nil {
		return nil, fmt.Errorf("the step's masks file does not decrypt with this key (another step's ticket?): %w", err)
	}
	return values, nil
}

// LogKeySize is the length of a step's log key (AES-256).
const LogKeySize = 32

// LogCipher returns the key stream for stream positioned at offset.
func LogCipher(key []byte, stream byte, offset int64) (cipher.Stream, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	iv := make([]byte, aes.BlockSize)
	iv[0] = stream
	binary.BigEndian.PutUint64(iv[8:], uint64(offset/aes.BlockSize))
	s := cipher.NewCTR(block, iv)
	if skip := offset % aes.BlockSize; skip > 0 {
		b := make([]byte, skip)
		s.XORKeyStream(b, b)
	}
	return s, nil
}

// Follow exit codes: how a follow ended, when it did not reach the end.
const (
	// FollowDone: the runner wrote its exit file and every byte was sent,
	// then the exit code in an exit frame.
	FollowDone = 0
	// FollowNoExit: the container is gone and never wrote an exit file
	// (killed, out of memory, removed).
	FollowNoExit = 65
	// FollowFailed: the logs could not be read.
	FollowFailed = 66
	// FollowEngineAway: the Docker engine did not answer for longer than
	// the follow's EngineWait, and the step wrote no exit file meanwhile.
	FollowEngineAway = 67
)
