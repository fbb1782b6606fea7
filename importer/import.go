package importer

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Result is one process's runbook (nil when no step converted) and its
// report.
type Result struct {
	Runbook *Runbook
	Report  ProcessReport
}

// Load reads one file: REST JSON when it ends in .json, OCL otherwise.
// A file that cannot be read is a *ParseError naming line and column.
func Load(file string, src []byte) (Document, error) {
	if strings.EqualFold(filepath.Ext(file), ".json") {
		return ParseREST(file, src)
	}
	b, err := ParseOCL(file, src)
	if err != nil {
		return Document{}, err
	}
	return ProcessFromOCL(file, b)
}

// Import reads files and converts every process among them. Variables
// files apply to the processes in their directory (and in its runbooks/
// subdirectory); a single variables file applies to every process.
func Import(files []string, opt Options) ([]Result, error) {
	var procs []*Process
	var vars []*Variables
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("import %s: %w", f, err)
		}
		doc, err := Load(f, src)
		if err != nil {
			return nil, err
		}
		if doc.Process != nil {
			procs = append(procs, doc.Process)
		}
		if doc.Variables != nil {
			vars = append(vars, doc.Variables)
		}
	}
	var out []Result
	for _, p := range procs {
		rb, rep := Convert(p, variablesFor(p.File, vars), opt)
		out = append(out, Result{Runbook: rb, Report: rep})
	}
	return out, nil
}

func variablesFor(file string, vars []*Variables) *Variables {
	if len(vars) == 1 {
		return vars[0]
	}
	dir := filepath.Dir(file)
	for _, v := range vars {
		vdir := filepath.Dir(v.File)
		if dir == vdir || filepath.Base(dir) == "runbooks" && filepath.Dir(dir) == vdir {
			return v
		}
	}
	return nil
}

// FileName is a runbook file name for name: lower case, runs of other
// characters as one -.
func FileName(name string) string {
	var sb strings.Builder
	dash := false
	for _, r := range strings.ToLower(name) {
		if 'a' <= r && r <= 'z' || '0' <= r && r <= '9' {
			sb.WriteRune(r)
			dash = false
		} else if !dash && sb.Len() > 0 {
			sb.WriteByte('-')
			dash = true
		}
	}
	s := strings.TrimSuffix(sb.String(), "-")
	if s == "" {
		s = "runbook"
	}
	return s + ".yaml"
}

// Marshal writes rb as runbook YAML.
func Marshal(rb *Runbook) ([]byte, error) {
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(rb); err != nil {
		return nil, fmt.Errorf("runbook %s: %w", rb.Name, err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("runbook %s: %w", rb.Name, err)
	}
	return buf.Bytes(), nil
}
