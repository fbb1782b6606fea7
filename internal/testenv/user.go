package testenv

import (
	"fmt"
	"os/exec"
	"os/user"
	"strconv"
	"strings"
)

// User is a local account that SSH test servers log in as.
type User struct {
	Name     string
	Home     string
	UID, GID int
}

// RemoveUser deletes a test user and everything it owns on this machine:
// its step containers, its processes (watchdogs), a tmpfs mounted on its
// home, the home itself. A user that does not exist is not an error.
func RemoveUser(name string) error {
	u, err := user.Lookup(name)
	if err != nil {
		return nil
	}
	if ids, err := exec.Command("docker", "ps", "-aq", "--filter", "label=io.cuttle.home="+u.HomeDir).Output(); err == nil && len(ids) > 0 {
		args := append([]string{"rm", "-f", "-v"}, strings.Fields(string(ids))...)
		exec.Command("docker", args...).Run()
	}
	exec.Command("pkill", "-KILL", "-u", name).Run()
	exec.Command("umount", "-l", u.HomeDir).Run() // a tmpfs home; not mounted: fine
	if out, err := exec.Command("userdel", "-r", "-f", name).CombinedOutput(); err != nil {
		return fmt.Errorf("userdel %s: %v: %s", name, err, out)
	}
	return nil
}

// EnsureUser creates name (home directory, login shell bash) unless it
// exists, and puts it in the docker group when docker is true or takes it
// out otherwise. The password field is set to "*": sshd without PAM
// refuses accounts locked with "!".
func EnsureUser(name string, docker bool) (User, error) {
	if _, err := user.Lookup(name); err != nil {
		if out, err := exec.Command("useradd", "-m", "-s", "/bin/bash", name).CombinedOutput(); err != nil {
			return User{}, fmt.Errorf("useradd %s: %v: %s", name, err, out)
		}
	}
	if out, err := exec.Command("usermod", "-p", "*", name).CombinedOutput(); err != nil {
		return User{}, fmt.Errorf("usermod -p %s: %v: %s", name, err, out)
	}
	if docker {
		if out, err := exec.Command("usermod", "-aG", "docker", name).CombinedOutput(); err != nil {
			return User{}, fmt.Errorf("adding %s to the docker group (is docker.io installed?): %v: %s", name, err, out)
		}
	} else {
		_ = exec.Command("gpasswd", "-d", name, "docker").Run() // not a member: fine
	}
	u, err := user.Lookup(name)
	if err != nil {
		return User{}, err
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return User{Name: name, Home: u.HomeDir, UID: uid, GID: gid}, nil
}
