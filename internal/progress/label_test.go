package progress

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// recorder is a Reporter that notes the label of each bar asked of it.
type recorder struct{ labels []string }

func (r *recorder) Transfer(worker, what string, _ int64) Tracker {
	r.labels = append(r.labels, worker+": "+what)
	return nop{}
}
func (r *recorder) Count(worker, what string) Tracker {
	r.labels = append(r.labels, worker+": "+what)
	return nop{}
}
func (r *recorder) Wait(worker, why string) Tracker {
	r.labels = append(r.labels, worker+": "+why)
	return nop{}
}

// Bars are labelled with the worker's name from cuttle.yaml when the
// caller gave one, else with the SSH target the code drawing them knows.
func TestBarsCarryTheWorkersName(t *testing.T) {
	const target = "deploy@10.0.0.5:22"
	draw := func(ctx context.Context) {
		From(ctx).Transfer(target, "uploading", 10)
		From(ctx).Count(target, "pulling")
		From(ctx).Wait(target, "waiting for a slot")
	}
	rec := &recorder{}
	ctx := WithReporter(context.Background(), rec)
	draw(WithWorker(ctx, "web1"))
	draw(ctx)
	draw(WithWorker(ctx, ""))
	want := []string{"web1: uploading", "web1: pulling", "web1: waiting for a slot",
		target + ": uploading", target + ": pulling", target + ": waiting for a slot",
		target + ": uploading", target + ": pulling", target + ": waiting for a slot"}
	if diff := cmp.Diff(want, rec.labels); diff != "" {
		t.Errorf("labels (-want +got):\n%s", diff)
	}
	// With no display, a name changes nothing: nothing is drawn.
	if _, ok := From(WithWorker(context.Background(), "web1")).(nop); !ok {
		t.Error("no reporter: From must give the no-op one")
	}
}
