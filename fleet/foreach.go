package fleet

import (
	"context"
	"fmt"
	"sort"
	"sync"

	"github.com/cuttle-sh/cuttle/config"
	"github.com/cuttle-sh/cuttle/transport"
)

// Selection names workers: explicit names, or a pool's members, or (both
// empty) every worker in the config.
func Selection(cfg *config.Config, names []string, pool string) ([]string, error) {
	switch {
	case len(names) > 0 && pool != "":
		return nil, fmt.Errorf("give worker names or --pool, not both")
	case pool != "":
		return PoolMembers(cfg, pool)
	case len(names) > 0:
		return names, nil
	}
	var all []string
	for _, name := range keys(cfg.Workers) {
		if !cfg.IsHop(name) { // jump hosts run no steps: nothing to check or pull there
			all = append(all, name)
		}
	}
	if len(all) == 0 {
		return nil, fmt.Errorf("no workers: name some, or list them under workers: in cuttle.yaml")
	}
	return all, nil
}

// ForEach dials each worker and calls fn with its connection, all in
// parallel (at most limit at once). Results come back in name order; a
// dial failure is that worker's error.
func ForEach(ctx context.Context, cfg *config.Config, names []string, d Defaults, limit int, fn func(ctx context.Context, name string, conn *transport.Conn) error) map[string]error {
	if limit <= 0 {
		limit = 20
	}
	sort.Strings(names)
	errs := map[string]error{}
	var mu sync.Mutex
	sem := make(chan struct{}, limit)
	var wg sync.WaitGroup
	hops := &transport.HopPool{}
	defer hops.Close()
	for _, n := range names {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			err := func() error {
				t, err := Resolve(cfg, n, d)
				if err != nil {
					return err
				}
				conn, err := hops.Dial(ctx, t)
				if err != nil {
					return err
				}
				defer conn.Close()
				return fn(LabelProgress(ctx, cfg, n), n, conn)
			}()
			mu.Lock()
			errs[n] = err
			mu.Unlock()
		}()
	}
	wg.Wait()
	return errs
}
