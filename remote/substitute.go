package remote

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/rs/zerolog"

	"github.com/cuttle-sh/cuttle/internal/mask"
	"github.com/cuttle-sh/cuttle/octostache"
	"github.com/cuttle-sh/cuttle/transport"
	"github.com/cuttle-sh/cuttle/wire"
)

// substituteInFiles evaluates the files of the work directory that
// st.SubstituteInFiles names as Octopus templates, with the step's
// variables (sensitive ones included, as Octopus's "Substitute Variables
// in Templates" does; the work directory is removed after the step), in
// two commands: files-get sends them, files-put takes back those that
// changed. A pattern that matches nothing, and expressions left
// unresolved, are warnings, as in Calamari.
func substituteInFiles(ctx context.Context, sh Shell, st *Step, masks *mask.Set, facts Facts, runner string, log zerolog.Logger) error {
	if len(st.SubstituteInFiles) == 0 {
		return nil
	}
	var out limitedBuffer
	out.max = wire.MaxSubstituted + 1<<20
	tail := &tailBuffer{max: 2048}
	args := append([]string{runner, "step-runner", "files-get", "--workdir", facts.WorkDir(), "--"}, st.SubstituteInFiles...)
	if err := sh.Run(ctx, &transport.Cmd{Args: args, Stdout: &out, Stderr: tail}); err != nil {
		return substituteErr(ctx, sh, "reading the files", err, tail)
	}
	files, err := readMatched(bufio.NewReader(&out), st.SubstituteInFiles, log)
	if err != nil {
		return stepErr(sh.String(), ReasonWorkspace, "substitute_in_files: %w", err)
	}
	vars := octostache.NewVariables()
	for _, v := range st.Variables {
		vars.Put(v.Name, v.Value, v.Sensitive)
	}
	var put bytes.Buffer
	for _, f := range files {
		r, err := vars.Render(string(f.body), octostache.Options{Lenient: true})
		if err != nil {
			return stepErr(sh.String(), ReasonInput, "substitute_in_files: %s: %w", f.path, err)
		}
		if len(r.Unresolved) > 0 {
			msg := (&octostache.UnresolvedError{Tokens: r.Unresolved}).Error()
			log.Warn().Str("file", f.path).Msg(masks.Mask("substitute_in_files: " + f.path + ": " + msg))
		}
		if r.Text == string(f.body) {
			continue
		}
		h, _ := json.Marshal(wire.PackHeader{Path: f.path, Size: int64(len(r.Text))})
		sum := sha256.Sum256([]byte(r.Text))
		fmt.Fprintf(&put, "%s\n%ssha256 %s\n", h, r.Text, hex.EncodeToString(sum[:]))
		log.Debug().Str("file", f.path).Msg("substituted variables")
	}
	if put.Len() == 0 {
		return nil
	}
	tail = &tailBuffer{max: 2048}
	cmd := &transport.Cmd{Args: []string{runner, "step-runner", "files-put", "--workdir", facts.WorkDir()}, Stdin: &put, Stderr: tail}
	if err := sh.Run(ctx, cmd); err != nil {
		return substituteErr(ctx, sh, "writing the substituted files", err, tail)
	}
	return nil
}

func substituteErr(ctx context.Context, sh Shell, doing string, err error, tail *tailBuffer) error {
	if ctx.Err() != nil {
		return context.Cause(ctx)
	}
	msg := strings.TrimPrefix(lastLine(tail.String()), "cuttle: ")
	if strings.Contains(msg, "file pattern") || strings.Contains(msg, "narrow the patterns") {
		return stepErr(sh.String(), ReasonInput, "%s", msg)
	}
	return stepErr(sh.String(), ReasonWorkspace, "substitute_in_files: %s: %w: %s", doing, err, msg)
}

type matchedFile struct {
	path string
	body []byte
}

// readMatched reads files-get's output: the matches, then each file.
func readMatched(r *bufio.Reader, patterns []string, log zerolog.Logger) ([]matchedFile, error) {
	line, err := r.ReadBytes('\n')
	var m wire.FileMatches
	if err != nil || json.Unmarshal(line, &m) != nil || len(m.Patterns) != len(patterns) {
		return nil, errors.New("the worker's list of matched files is garbled")
	}
	for _, p := range m.Patterns {
		if len(p.Paths) == 0 {
			log.Warn().Str("pattern", p.Pattern).Msg("substitute_in_files: no file in the work directory matches " + p.Pattern)
		}
	}
	var files []matchedFile
	for {
		line, err := r.ReadBytes('\n')
		if err == io.EOF && len(line) == 0 {
			return files, nil
		}
		var h wire.PackHeader
		if err != nil || json.Unmarshal(line, &h) != nil {
			return nil, errors.New("the worker's stream of matched files is garbled")
		}
		if h.Error != "" {
			log.Warn().Str("file", h.Path).Msg("substitute_in_files: not substituted: " + h.Error)
			continue
		}
		body := make([]byte, h.Size)
		if _, err := io.ReadFull(r, body); err != nil {
			return nil, fmt.Errorf("%s: the stream ended early", h.Path)
		}
		sum := sha256.Sum256(body)
		if trailer, err := r.ReadString('\n'); err != nil || strings.TrimSpace(trailer) != "sha256 "+hex.EncodeToString(sum[:]) {
			return nil, fmt.Errorf("%s: the sha256 of what arrived differs from the worker's file", h.Path)
		}
		files = append(files, matchedFile{path: h.Path, body: body})
	}
}
