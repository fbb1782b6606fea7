package importer

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// TestGolden imports hand-written processes (testdata/golden: an OCL
// project with a runbook and variables, and a REST JSON runbook) and
// compares each runbook and the text report with its golden file.
func TestGolden(t *testing.T) {
	tests := []struct {
		name  string
		files []string
		opt   Options
	}{
		{"ocl", []string{
			"testdata/golden/app/.octopus/deployment_process.ocl",
			"testdata/golden/app/.octopus/runbooks/restart-service.ocl",
			"testdata/golden/app/.octopus/variables.ocl",
		}, Options{DefaultImage: "debian:12-slim", PoolMap: map[string]string{"hosted-ubuntu": "linux"}, FeedMap: map[string]string{"docker-hub": "hub"}}},
		{"rest", []string{"testdata/golden/rest/restart-web.json"},
			Options{DefaultImage: "debian:12-slim", PoolMap: map[string]string{"WorkerPools-3": "linux"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			results, err := Import(tt.files, tt.opt)
			if err != nil {
				t.Fatal(err)
			}
			var report bytes.Buffer
			for _, r := range results {
				if r.Runbook != nil {
					b, err := Marshal(r.Runbook)
					if err != nil {
						t.Fatal(err)
					}
					r.Report.Output = FileName(r.Runbook.Name)
					golden(t, filepath.Join("testdata", "golden", tt.name+"."+r.Report.Output), b)
				}
				r.Report.WriteText(&report)
			}
			golden(t, filepath.Join("testdata", "golden", tt.name+".report.txt"), report.Bytes())
		})
	}
}

func golden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to write it)", err)
	}
	if d := cmp.Diff(string(want), string(got)); d != "" {
		t.Errorf("%s (-want +got):\n%s", path, d)
	}
}
