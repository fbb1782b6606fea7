package testenv

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strings"

	"golang.org/x/sys/unix"
)

// Netns is a network namespace joined to this one by a veth pair: a
// worker's sshd listens inside it, and tests cut, restore or degrade the
// link. Addresses are in 10.251.<n>.0/30, never routed beyond the pair.
type Netns struct {
	Name   string
	HostIP string // this side of the pair
	NsIP   string // the namespace's side
	hostIf string
}

// NewNetns creates namespace cuttle-<n> (0 < n < 255), removing a stale
// one left by a killed run.
func NewNetns(n int) (*Netns, error) {
	ns := &Netns{
		Name:   fmt.Sprintf("cuttle-%d", n),
		HostIP: fmt.Sprintf("10.251.%d.1", n),
		NsIP:   fmt.Sprintf("10.251.%d.2", n),
		hostIf: fmt.Sprintf("cuttle-h%d", n),
	}
	nsIf := fmt.Sprintf("cuttle-n%d", n)
	ns.Close()
	steps := [][]string{
		{"ip", "netns", "add", ns.Name},
		{"ip", "link", "add", ns.hostIf, "type", "veth", "peer", "name", nsIf},
		{"ip", "link", "set", nsIf, "netns", ns.Name},
		{"ip", "addr", "add", ns.HostIP + "/30", "dev", ns.hostIf},
		{"ip", "link", "set", ns.hostIf, "up"},
		{"ip", "netns", "exec", ns.Name, "ip", "addr", "add", ns.NsIP + "/30", "dev", nsIf},
		{"ip", "netns", "exec", ns.Name, "ip", "link", "set", nsIf, "up"},
		{"ip", "netns", "exec", ns.Name, "ip", "link", "set", "lo", "up"},
		{"ip", "netns", "exec", ns.Name, "nft", "add", "table", "inet", "cuttle"},
		{"ip", "netns", "exec", ns.Name, "nft", "add", "chain", "inet", "cuttle", "in", "{ type filter hook input priority 0; }"},
		{"ip", "netns", "exec", ns.Name, "nft", "add", "chain", "inet", "cuttle", "out", "{ type filter hook output priority 0; }"},
	}
	for _, s := range steps {
		if out, err := exec.Command(s[0], s[1:]...).CombinedOutput(); err != nil {
			ns.Close()
			return nil, fmt.Errorf("%s: %v: %s", strings.Join(s, " "), err, out)
		}
	}
	return ns, nil
}

// Listen opens a TCP listener inside the namespace, on its side of the
// pair, on a port the kernel picks.
func (ns *Netns) Listen() (net.Listener, error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	orig, err := os.Open("/proc/thread-self/ns/net")
	if err != nil {
		return nil, err
	}
	defer orig.Close()
	target, err := os.Open("/var/run/netns/" + ns.Name)
	if err != nil {
		return nil, err
	}
	defer target.Close()
	if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
		return nil, fmt.Errorf("setns %s: %w", ns.Name, err)
	}
	ln, lerr := net.Listen("tcp", ns.NsIP+":0")
	if err := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET); err != nil {
		// This thread is in the wrong namespace: let it die with the
		// lock held rather than serve other goroutines.
		panic(fmt.Sprintf("setns back: %v", err))
	}
	return ln, lerr
}

func (ns *Netns) nft(rule ...string) error {
	args := append([]string{"netns", "exec", ns.Name, "nft"}, rule...)
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		return fmt.Errorf("nft %s: %v: %s", strings.Join(rule, " "), err, out)
	}
	return nil
}

// Cut drops every packet in and out of the namespace, silently: to the
// controller the worker simply stops answering, as on a dead link.
func (ns *Netns) Cut() error {
	if err := ns.nft("add", "rule", "inet", "cuttle", "in", "drop"); err != nil {
		return err
	}
	return ns.nft("add", "rule", "inet", "cuttle", "out", "drop")
}

// Loss drops pct percent of the packets entering and leaving, at random.
func (ns *Netns) Loss(pct int) error {
	for _, chain := range []string{"in", "out"} {
		if err := ns.nft("add", "rule", "inet", "cuttle", chain, "numgen", "random", "mod", "100", "<", fmt.Sprint(pct), "drop"); err != nil {
			return err
		}
	}
	return nil
}

// Restore removes every rule: the link works again.
func (ns *Netns) Restore() error {
	if err := ns.nft("flush", "chain", "inet", "cuttle", "in"); err != nil {
		return err
	}
	return ns.nft("flush", "chain", "inet", "cuttle", "out")
}

// Close deletes the namespace and the pair.
func (ns *Netns) Close() {
	exec.Command("ip", "link", "del", ns.hostIf).Run()
	exec.Command("ip", "netns", "del", ns.Name).Run()
}
