package testenv

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Netns is a network namespace joined to this one by a veth pair: a
// worker's sshd listens inside it, and tests cut, restore or degrade the
// link. Each gets a random name and a random /30 in 10.200.0.0/13 that no
// interface on this machine uses, so two test runs on one host never share
// or tear down each other's namespaces; the pair is never routed further.
type Netns struct {
	Name   string
	HostIP string // this side of the pair
	NsIP   string // the namespace's side
	hostIf string
}

// NewNetns creates a namespace named cuttle-<random>.
func NewNetns() (*Netns, error) {
	var r [6]byte
	if _, err := rand.Read(r[:]); err != nil {
		return nil, err
	}
	tag := hex.EncodeToString(r[:3])
	used, err := exec.Command("ip", "-4", "-o", "addr", "show").Output()
	if err != nil {
		return nil, fmt.Errorf("ip addr show: %w", err)
	}
	var net3 string
	for i := 0; ; i++ {
		if i == 64 {
			return nil, fmt.Errorf("no free /30 found in 10.200.0.0/13")
		}
		net3 = fmt.Sprintf("10.%d.%d.%d", 200+int(r[3]+byte(i))%8, r[4]+byte(i*7), int(r[5]+byte(i*13))&^3)
		prefix := net3[:strings.LastIndexByte(net3, '.')+1]
		if !strings.Contains(string(used), " "+prefix) {
			break
		}
	}
	base := net3[:strings.LastIndexByte(net3, '.')+1]
	last, _ := strconv.Atoi(net3[len(base):])
	ns := &Netns{
		Name:   "cuttle-" + hex.EncodeToString(r[:]),
		HostIP: base + strconv.Itoa(last+1),
		NsIP:   base + strconv.Itoa(last+2),
		hostIf: "cth" + tag,
	}
	nsIf := "ctn" + tag
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
