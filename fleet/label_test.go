package fleet

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/cuttle-sh/cuttle/config"
	"github.com/cuttle-sh/cuttle/internal/progress"
)

// A step's bars are labelled with the worker's name from cuttle.yaml; an
// address or an alias keeps the SSH target the bar's code gives.
func TestLabelProgressOnlyForConfigWorkers(t *testing.T) {
	rec := &labelRecorder{}
	ctx := progress.WithReporter(context.Background(), rec)
	cfg := &config.Config{Workers: map[string]config.Worker{"web1": {Host: "10.0.0.5"}}}
	for _, name := range []string{"web1", "deploy@10.0.0.6", "alias"} {
		progress.From(LabelProgress(ctx, cfg, name)).Wait("deploy@10.0.0.5:22", "w")
	}
	progress.From(LabelProgress(ctx, nil, "web1")).Wait("t", "w")
	if want := []string{"web1", "deploy@10.0.0.5:22", "deploy@10.0.0.5:22", "t"}; !cmp.Equal(rec.labels, want) {
		t.Errorf("labels %q, want %q", rec.labels, want)
	}
}

type labelRecorder struct{ labels []string }

func (r *labelRecorder) Transfer(w, _ string, _ int64) progress.Tracker { return r.note(w) }
func (r *labelRecorder) Count(w, _ string) progress.Tracker             { return r.note(w) }
func (r *labelRecorder) Wait(w, _ string) progress.Tracker              { return r.note(w) }
func (r *labelRecorder) note(w string) progress.Tracker {
	r.labels = append(r.labels, w)
	return progress.From(context.Background()).Wait("", "")
}
