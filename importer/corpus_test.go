package importer

import (
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// corpusDir holds real OCL files from public repositories (SOURCES.md
// lists them). CUTTLE_OCL_CORPUS points elsewhere.
func corpusDir() string {
	if d := os.Getenv("CUTTLE_OCL_CORPUS"); d != "" {
		return d
	}
	return filepath.Join("testdata", "ocl")
}

// TestCorpus reads every corpus file, converts every process, and checks
// that every Bash or sh script step converts. It logs the figures
// (go test -run TestCorpus -v ./importer).
func TestCorpus(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(corpusDir(), "*.ocl"))
	if len(files) < 40 {
		t.Skipf("corpus %s has %d files (want 40 or more): see testdata/ocl/SOURCES.md", corpusDir(), len(files))
	}
	repos := map[string]bool{}
	var procs, varFiles, scripts int
	warnings := map[string]int{}
	var counts Counts
	for _, f := range files {
		repos[strings.SplitN(filepath.Base(f), "__", 3)[1]] = true
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		doc, err := Load(f, src)
		if err != nil {
			t.Errorf("%v", err)
			continue
		}
		if doc.Variables != nil {
			varFiles++
		}
		if doc.Process == nil {
			continue
		}
		procs++
		_, rep := Convert(doc.Process, nil, Options{DefaultImage: "debian:12-slim"})
		counts.Add(rep)
		i := 0
		for _, s := range doc.Process.Steps {
			for _, a := range s.Actions {
				sr := rep.Steps[i]
				i++
				syntax := strings.ToLower(a.Properties["Octopus.Action.Script.Syntax"])
				for _, w := range sr.Warnings {
					warnings[warningKind(w)]++
				}
				if a.ActionType != "Octopus.Script" || syntax != "bash" && syntax != "sh" ||
					a.Properties["Octopus.Action.Template.Id"] != "" || a.Disabled {
					continue
				}
				scripts++
				if sr.Status == StatusNotConverted {
					t.Errorf("%s: bash step %q not converted: %s", f, a.Name, sr.Reason)
				}
			}
		}
	}
	t.Logf("files %d from %d repositories: %d processes, %d variables files", len(files), len(repos), procs, varFiles)
	t.Logf("steps %d: converted %d, with warnings %d, not converted %d", counts.Steps, counts.Converted, counts.Warnings, counts.NotConverted)
	t.Logf("bash/sh script steps (not templates, not disabled): %d, all converted", scripts)
	for _, k := range byCount(counts.ByType) {
		t.Logf("  not converted %3d  %s", counts.ByType[k], k)
	}
	for _, k := range byCount(warnings) {
		t.Logf("  warning %3d  %s", warnings[k], k)
	}
}

// warningKind is a warning's first words, without the names in it.
func warningKind(w string) string {
	for _, kind := range []string{"pool", "feed", "no execution container", "package", "property", "features", "PowerShell", "variable condition", "image", "channels", "tenant tags", "ran on", "renamed"} {
		if strings.HasPrefix(w, kind) {
			return kind
		}
	}
	return w
}

func byCount(m map[string]int) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return m[keys[i]] > m[keys[j]] || m[keys[i]] == m[keys[j]] && keys[i] < keys[j] })
	return keys
}
