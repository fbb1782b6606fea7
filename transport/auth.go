package transport

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
	"golang.org/x/term"
)

// AuthError is returned when the server accepted none of the methods
// offered. Tried names them in the order they were offered.
type AuthError struct {
	Target string
	Tried  []string
	Err    error
}

func (e *AuthError) Error() string {
	return fmt.Sprintf("%s: authentication failed (tried %s): check the user name, that the public key is in the worker's ~/.ssh/authorized_keys, or the password", e.Target, strings.Join(e.Tried, ", "))
}

func (e *AuthError) Unwrap() error { return e.Err }

// authMethods builds the methods in OpenSSH's order: public keys (the
// identity files given, then the agent's), then password and
// keyboard-interactive. The returned closer releases the agent socket.
func authMethods(t Target) ([]ssh.AuthMethod, []string, func(), error) {
	var signers []ssh.Signer
	var tried, skipped []string
	files, defaults := t.IdentityFiles, false
	if len(files) == 0 {
		// As ssh does with no -i: the user's default keys that exist.
		files, defaults = defaultIdentities(), true
	}
	for _, f := range files {
		s, err := loadIdentity(f)
		if err != nil && defaults {
			skipped = append(skipped, err.Error()) // ssh skips an unusable default key too
			continue
		}
		if err != nil {
			return nil, nil, nil, err
		}
		// An OpenSSH certificate beside the key is offered first, as ssh does.
		if cert, err := loadCertificate(f+"-cert.pub", s); err != nil {
			return nil, nil, nil, err
		} else if cert != nil {
			signers = append(signers, cert)
			tried = append(tried, "publickey "+f+"-cert.pub")
		}
		signers = append(signers, s)
		tried = append(tried, "publickey "+f)
	}
	closer := func() {}
	var agentSigners func() ([]ssh.Signer, error)
	if sock := os.Getenv("SSH_AUTH_SOCK"); t.UseAgent && sock != "" {
		c, err := net.Dial("unix", sock)
		if err != nil {
			return nil, nil, nil, fmt.Errorf("ssh-agent at SSH_AUTH_SOCK=%s: %w (unset SSH_AUTH_SOCK to skip the agent)", sock, err)
		}
		closer = func() { c.Close() }
		agentSigners = agent.NewClient(c).Signers
		tried = append(tried, "publickey ssh-agent")
	}
	var methods []ssh.AuthMethod
	if len(signers) > 0 || agentSigners != nil {
		methods = append(methods, ssh.PublicKeysCallback(func() ([]ssh.Signer, error) {
			all := append([]ssh.Signer(nil), signers...)
			if agentSigners != nil {
				if as, err := agentSigners(); err == nil {
					all = append(all, as...)
				}
			}
			return all, nil
		}))
	}
	if t.Password.IsSet() {
		pw := t.Password
		methods = append(methods,
			ssh.PasswordCallback(func() (string, error) { return pw.Reveal(), nil }),
			ssh.KeyboardInteractive(func(_, _ string, questions []string, _ []bool) ([]string, error) {
				answers := make([]string, len(questions))
				for i := range answers {
					answers[i] = pw.Reveal()
				}
				return answers, nil
			}))
		tried = append(tried, "password", "keyboard-interactive")
	}
	if len(methods) == 0 {
		closer()
		why := ""
		if len(skipped) > 0 {
			why = " (skipped: " + strings.Join(skipped, "; ") + ")"
		}
		return nil, nil, nil, fmt.Errorf("%s: no way to authenticate%s: give --identity KEY, --password-env VAR, or start ssh-agent", t, why)
	}
	return methods, tried, closer, nil
}

// promptPassphrase asks on the controlling terminal, without echo, as ssh
// does; with no terminal (CI, cron) it says how to give the passphrase.
func promptPassphrase(file string) ([]byte, error) {
	in, out, err := openTerminal(runtime.GOOS)
	if err != nil {
		return nil, fmt.Errorf("identity file %s is encrypted and there is no terminal to ask on: set CUTTLE_KEY_PASSPHRASE, or load the key into ssh-agent", file)
	}
	defer in.Close()
	defer out.Close()
	fmt.Fprintf(out, "Enter passphrase for key '%s': ", file)
	pass, err := term.ReadPassword(int(in.Fd()))
	fmt.Fprintln(out)
	if err != nil {
		return nil, fmt.Errorf("reading the passphrase for %s: %w", file, err)
	}
	return pass, nil
}

// terminalFiles are the files of the controlling terminal on goos: its
// console's input and output buffers on Windows, /dev/tty elsewhere.
func terminalFiles(goos string) (in, out string) {
	if goos == "windows" {
		return "CONIN$", "CONOUT$"
	}
	return "/dev/tty", "/dev/tty"
}

// openTerminal opens the controlling terminal to prompt on, or fails when
// there is none (CI, cron, a service).
func openTerminal(goos string) (in, out *os.File, err error) {
	inName, outName := terminalFiles(goos)
	if in, err = os.OpenFile(inName, os.O_RDWR, 0); err != nil {
		return nil, nil, err
	}
	if !term.IsTerminal(int(in.Fd())) {
		in.Close()
		return nil, nil, fmt.Errorf("%s is not a terminal", inName)
	}
	if out, err = os.OpenFile(outName, os.O_RDWR, 0); err != nil {
		in.Close()
		return nil, nil, err
	}
	return in, out, nil
}

// keyTooOpen reports whether ssh on goos would refuse a private key of
// mode perm as readable by others. Windows has no mode bits (Go reports
// 0666 for any writable file; OpenSSH for Windows checks the ACL), so
// nothing is refused there.
func keyTooOpen(goos string, perm os.FileMode) bool {
	return goos != "windows" && perm&0o077 != 0
}

// loadCertificate reads an OpenSSH user certificate for signer, if file
// exists.
func loadCertificate(file string, signer ssh.Signer) (ssh.Signer, error) {
	b, err := os.ReadFile(file)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("certificate %s: %w", file, err)
	}
	pub, _, _, _, err := ssh.ParseAuthorizedKey(b)
	if err != nil {
		return nil, fmt.Errorf("certificate %s: %w", file, err)
	}
	cert, ok := pub.(*ssh.Certificate)
	if !ok {
		return nil, fmt.Errorf("%s is not an OpenSSH certificate", file)
	}
	cs, err := ssh.NewCertSigner(cert, signer)
	if err != nil {
		return nil, fmt.Errorf("certificate %s does not match its key: %w", file, err)
	}
	return cs, nil
}

// defaultIdentities are the private keys ssh tries when given none, those
// that exist: ~/.ssh/id_rsa, id_ecdsa, id_ed25519.
func defaultIdentities() []string {
	home, err := os.UserHomeDir()
	if err != nil {
		return nil
	}
	var out []string
	for _, name := range []string{"id_rsa", "id_ecdsa", "id_ed25519"} {
		p := filepath.Join(home, ".ssh", name)
		if _, err := os.Stat(p); err == nil {
			out = append(out, p)
		}
	}
	return out
}

func loadIdentity(file string) (ssh.Signer, error) {
	if fi, err := os.Stat(file); err == nil && keyTooOpen(runtime.GOOS, fi.Mode().Perm()) {
		// As ssh: a private key others can read is refused.
		return nil, fmt.Errorf("identity file %s is accessible by others (mode %04o), so ssh would refuse it: chmod 600 %s", file, fi.Mode().Perm(), file)
	}
	pem, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("identity file %s: %w", file, err)
	}
	s, err := ssh.ParsePrivateKey(pem)
	var missing *ssh.PassphraseMissingError
	switch {
	case errors.As(err, &missing):
		pass, from := []byte(os.Getenv("CUTTLE_KEY_PASSPHRASE")), "CUTTLE_KEY_PASSPHRASE"
		if len(pass) == 0 {
			if pass, err = promptPassphrase(file); err != nil {
				return nil, err
			}
			from = "the prompt"
		}
		s, err = ssh.ParsePrivateKeyWithPassphrase(pem, pass)
		if err != nil {
			return nil, fmt.Errorf("identity file %s: wrong passphrase (from %s)", file, from)
		}
	case err != nil:
		return nil, fmt.Errorf("identity file %s: not a private key ssh can read: %w", file, err)
	}
	return s, nil
}
