package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/cuttle-sh/cuttle/internal/testenv"
)

// ansibleSettings says how Ansible is run, for the notes under the table.
const ansibleSettings = "Ansible runs with its defaults: its ssh connection plugin (`-C -o ControlMaster=auto -o ControlPersist=60s`, so the tasks of one run share a connection per host), " +
	"no pipelining, and `ANSIBLE_PYTHON_INTERPRETER=auto_silent` (interpreter discovery on every run). Each run gets a new ControlPath directory and its masters are closed after it, " +
	"so no run reuses a connection an earlier one opened (with one shared directory, every run within 60 s of the last would skip its handshakes); a tuned Ansible (pipelining, a fixed interpreter) would be faster."

func (e *env) ansibleAdhoc(forks int, cmd string, workers ...*testenv.SSHD) error {
	return e.runAnsible("ansible", forks, []string{"w", "-m", "command", "-a", cmd}, workers...)
}

// runAnsible runs an Ansible command against an inventory of workers,
// with connections of its own that it closes before returning.
func (e *env) runAnsible(bin string, forks int, args []string, workers ...*testenv.SSHD) error {
	var inv strings.Builder
	inv.WriteString("[w]\n")
	var kh []byte
	for i, s := range workers {
		fmt.Fprintf(&inv, "w%d ansible_host=127.0.0.1 ansible_port=%d ansible_user=%s\n", i, s.Port, e.user)
		b, err := os.ReadFile(s.KnownHosts)
		if err != nil {
			return err
		}
		kh = append(kh, b...)
	}
	invFile := filepath.Join(e.dir, "inventory")
	khFile := filepath.Join(e.dir, "ansible_known_hosts")
	if err := os.WriteFile(invFile, []byte(inv.String()), 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(khFile, kh, 0o644); err != nil {
		return err
	}
	cp, err := os.MkdirTemp(e.dir, "ansible-cp-")
	if err != nil {
		return err
	}
	defer closeMasters(cp)
	c := exec.Command(bin, append(append([]string(nil), args...), "-i", invFile, "-f", strconv.Itoa(forks),
		"--private-key", e.key.PrivateFile, "--ssh-extra-args=-o UserKnownHostsFile="+khFile)...)
	c.Env = append(os.Environ(), "ANSIBLE_HOST_KEY_CHECKING=True", "ANSIBLE_PYTHON_INTERPRETER=auto_silent", "ANSIBLE_NOCOLOR=1",
		"ANSIBLE_SSH_CONTROL_PATH_DIR="+cp)
	// Ansible's persistent masters keep its output open: files, not pipes.
	logf, err := os.Create(filepath.Join(e.dir, "ansible.log"))
	if err != nil {
		return err
	}
	defer logf.Close()
	c.Stdout, c.Stderr = logf, logf
	if err := c.Run(); err != nil {
		return fmt.Errorf("%s: %w: %s", bin, err, tail([]byte(readFile(logf.Name()))))
	}
	return nil
}

// closeMasters ends the ControlMaster connections Ansible left in dir.
func closeMasters(dir string) {
	socks, _ := os.ReadDir(dir)
	for _, s := range socks {
		exec.Command("ssh", "-o", "ControlPath="+filepath.Join(dir, s.Name()), "-O", "exit", "ansible-master").Run()
	}
	os.RemoveAll(dir)
}
