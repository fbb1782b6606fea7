package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/cuttle-sh/cuttle/config"
	"github.com/cuttle-sh/cuttle/importer"
)

func newImportCmd(io stdio) *cobra.Command {
	cmd := &cobra.Command{Use: "import", Short: "Turn another tool's deployment processes into cuttle runbooks"}
	oct := &cobra.Command{
		Use:   "octopus FILE...",
		Short: "Turn Octopus processes and runbooks (OCL, or REST JSON ending in .json) into runbooks, with a migration report",
		Args:  cobra.MinimumNArgs(1),
	}
	f := oct.Flags()
	f.String("out", ".", "directory the runbooks are written to")
	f.StringArray("worker-pool-map", nil, "OCTOPUS_POOL=CUTTLE_POOL (repeatable); also a target role, a pool variable's name, or default")
	f.StringArray("feed-map", nil, "OCTOPUS_FEED=CUTTLE_FEED (repeatable)")
	f.String("default-image", "debian:12-slim", "image for steps that had no execution container")
	f.String("output", "text", "report format: text or json")
	oct.RunE = withFlags(func(ctx context.Context, fl *config.Flags, args []string) error {
		return importOctopus(io, fl, args)
	})
	cmd.AddCommand(oct)
	return cmd
}

// importOptions fills the conversion's options from the flags.
func importOptions(fl *config.Flags) (importer.Options, error) {
	opt := importer.Options{DefaultImage: fl.String("default-image")}
	var err error
	if opt.PoolMap, err = nameMap("--worker-pool-map", fl.Strings("worker-pool-map")); err != nil {
		return opt, err
	}
	opt.FeedMap, err = nameMap("--feed-map", fl.Strings("feed-map"))
	return opt, err
}

func nameMap(flag string, pairs []string) (map[string]string, error) {
	m := map[string]string{}
	for _, p := range pairs {
		k, v, ok := strings.Cut(p, "=")
		if !ok || k == "" || v == "" {
			return nil, fmt.Errorf("%s %q: want OCTOPUS=CUTTLE", flag, p)
		}
		m[k] = v
	}
	return m, nil
}

func importOctopus(io stdio, fl *config.Flags, files []string) error {
	format := fl.String("output")
	if format != "text" && format != "json" {
		return inputError("--output %q: want text or json", format)
	}
	opt, err := importOptions(fl)
	if err != nil {
		return inputError("%w", err)
	}
	results, err := importer.Import(files, opt)
	var pe *importer.ParseError
	if errors.As(err, &pe) {
		return inputError("import: %w", err)
	}
	if err != nil {
		return inputError("%w", err)
	}
	dir := fl.String("out")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return inputError("import: --out: %w", err)
	}
	taken := map[string]bool{}
	reports := make([]importer.ProcessReport, 0, len(results))
	for _, r := range results {
		if r.Runbook != nil {
			path := filepath.Join(dir, uniqueFile(taken, importer.FileName(r.Runbook.Name)))
			b, err := importer.Marshal(r.Runbook)
			if err != nil {
				return inputError("import %s: %w", r.Report.File, err)
			}
			if err := os.WriteFile(path, b, 0o644); err != nil {
				return inputError("import %s: %w", r.Report.File, err)
			}
			r.Report.Output = path
		}
		reports = append(reports, r.Report)
	}
	if format == "json" {
		enc := json.NewEncoder(io.Out)
		enc.SetIndent("", "  ")
		return enc.Encode(struct {
			Processes []importer.ProcessReport `json:"processes"`
		}{reports})
	}
	var total importer.Counts
	for _, r := range reports {
		r.WriteText(io.Out)
		total.Add(r)
	}
	fmt.Fprintf(io.Out, "%d steps: %d converted, %d with warnings, %d not converted\n", total.Steps, total.Converted, total.Warnings, total.NotConverted)
	return nil
}

// uniqueFile is name, or name-2.yaml, -3... when taken.
func uniqueFile(taken map[string]bool, name string) string {
	n := name
	for i := 2; taken[n]; i++ {
		n = fmt.Sprintf("%s-%d.yaml", strings.TrimSuffix(name, ".yaml"), i)
	}
	taken[n] = true
	return n
}
