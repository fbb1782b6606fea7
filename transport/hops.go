package transport

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"golang.org/x/crypto/ssh"
)

// HopPool shares connections to jump hosts: the workers behind one bastion
// cross it on one authenticated connection (each worker's own SSH runs
// inside a channel of it), opening another only when the bastion refuses
// more channels. The zero value is ready; a nil pool shares nothing.
type HopPool struct {
	mu sync.Mutex
	// hops maps a chain of hops ("a>b") to the live connection that ends
	// it.
	hops map[string]*sharedHop
}

type sharedHop struct {
	client *ssh.Client
	dead   bool
}

func chainKey(jumps []Target) string {
	names := make([]string, len(jumps))
	for i, j := range jumps {
		names[i] = j.String()
	}
	return strings.Join(names, ">")
}

// through returns a connection to the last of jumps (nil when there are
// none) and a function that lets go of it.
func (p *HopPool) through(ctx context.Context, jumps []Target) (*ssh.Client, func(), error) {
	if len(jumps) == 0 {
		return nil, func() {}, nil
	}
	if p == nil {
		return dialChain(ctx, jumps)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	var via *ssh.Client
	for i := range jumps {
		key := chainKey(jumps[:i+1])
		h := p.hops[key]
		if h == nil || h.dead {
			// Dialling under the lock: workers behind a hop wait for its
			// one connection rather than each opening their own.
			cl, err := dialOne(ctx, jumps[i], via)
			if err != nil {
				return nil, nil, fmt.Errorf("jump host %s: %w", jumps[i], err)
			}
			h = &sharedHop{client: cl}
			if p.hops == nil {
				p.hops = map[string]*sharedHop{}
			}
			p.hops[key] = h
			go func(h *sharedHop) {
				_ = h.client.Wait()
				p.mu.Lock()
				h.dead = true
				p.mu.Unlock()
			}(h)
		}
		via = h.client
	}
	// Shared hops stay up for the pool's life: the next worker or step
	// behind them needs them again.
	return via, func() {}, nil
}

// Close closes every hop connection the pool opened.
func (p *HopPool) Close() {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, h := range p.hops {
		h.client.Close()
	}
	p.hops = nil
}

// dialChain dials every hop privately; the returned function closes them.
func dialChain(ctx context.Context, jumps []Target) (*ssh.Client, func(), error) {
	var hops []*ssh.Client
	closeAll := func() {
		for i := len(hops) - 1; i >= 0; i-- {
			hops[i].Close()
		}
	}
	var via *ssh.Client
	for _, hop := range jumps {
		c, err := dialOne(ctx, hop, via)
		if err != nil {
			closeAll()
			return nil, nil, fmt.Errorf("jump host %s: %w", hop, err)
		}
		hops = append(hops, c)
		via = c
	}
	return via, closeAll, nil
}
