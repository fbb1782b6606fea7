package octopus

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"os/exec"
	"strings"
	"testing"

	"github.com/cuttle-sh/cuttle/wire"
)

// TestCalamariFormatWithOpenSSL decrypts cuttle's variables file with the
// openssl command line, independently of cuttle's own decoder: the key
// with `openssl kdf` (PBKDF2-SHA1, salt Octopuss, 1000 iterations), the
// body with `openssl enc -d -aes-256-cbc`.
func TestCalamariFormatWithOpenSSL(t *testing.T) {
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Fatal("openssl is needed to check the format independently: apt-get install openssl (make deps does)")
	}
	vars := []wire.Variable{{Name: "Env", Value: "prod"}, {Name: "Password", Value: "pä$$ w\"rd", Sensitive: true}}
	const password = "k3yk3yk3y"
	data, err := EncryptCalamariVariables(vars, password)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(data, []byte("IV__")) {
		t.Fatalf("file does not start with IV__: %q", data[:8])
	}
	kdf, err := exec.Command("openssl", "kdf", "-keylen", "32", "-kdfopt", "digest:SHA1", "-kdfopt", "pass:"+password,
		"-kdfopt", "salt:Octopuss", "-kdfopt", "iter:1000", "PBKDF2").Output()
	if err != nil {
		t.Fatalf("openssl kdf: %v", err)
	}
	key := strings.ReplaceAll(strings.TrimSpace(string(kdf)), ":", "")
	iv := hex.EncodeToString(data[4:20])
	dec := exec.Command("openssl", "enc", "-d", "-aes-256-cbc", "-K", key, "-iv", iv)
	dec.Stdin = bytes.NewReader(data[20:])
	plain, err := dec.Output()
	if err != nil {
		t.Fatalf("openssl enc -d: %v", err)
	}
	var got []map[string]any
	if err := json.Unmarshal(plain, &got); err != nil {
		t.Fatalf("openssl's plaintext is not JSON: %v: %q", err, plain)
	}
	if len(got) != 2 || got[1]["k"] != "Password" || got[1]["v"] != "pä$$ w\"rd" || got[1]["s"] != true || got[0]["s"] != false {
		t.Fatalf("decrypted = %v", got)
	}
	back, err := DecryptCalamariVariables(data, password)
	if err != nil || len(back) != 2 || back[1] != vars[1] {
		t.Fatalf("own decoder: %v %v", back, err)
	}
	if _, err := DecryptCalamariVariables(data, "wrong"); err == nil {
		t.Fatal("wrong password accepted")
	}
}
