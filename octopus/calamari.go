package octopus

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha1"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/cuttle-sh/cuttle/wire"
)

// Calamari's variables file (Calamari.Common Plumbing/Extensions/
// AesEncryption.cs, "ForServerVariables"): a JSON array of
// {"k": name, "v": value, "s": sensitive}, encrypted with AES-256-CBC and
// PKCS#7 padding under a key derived by PBKDF2-HMAC-SHA1 from a password
// with the salt "Octopuss" and 1000 iterations; the file is "IV__", the
// 16-byte IV, then the ciphertext.
const (
	calamariSalt       = "Octopuss"
	calamariIterations = 1000
	calamariIVPrefix   = "IV__"
)

type calamariVariable struct {
	K string `json:"k"`
	V string `json:"v"`
	S bool   `json:"s"`
}

// CalamariKey derives the AES key from the variables password.
func CalamariKey(password string) ([]byte, error) {
	return pbkdf2.Key(sha1.New, password, []byte(calamariSalt), calamariIterations, 32)
}

// EncryptCalamariVariables writes vars in Calamari's encrypted format.
func EncryptCalamariVariables(vars []wire.Variable, password string) ([]byte, error) {
	list := make([]calamariVariable, len(vars))
	for i, v := range vars {
		list[i] = calamariVariable{K: v.Name, V: v.Value, S: v.Sensitive}
	}
	plain, err := json.Marshal(list)
	if err != nil {
		return nil, err
	}
	block, err := calamariCipher(password)
	if err != nil {
		return nil, err
	}
	pad := aes.BlockSize - len(plain)%aes.BlockSize
	plain = append(plain, bytes.Repeat([]byte{byte(pad)}, pad)...)
	iv := make([]byte, aes.BlockSize)
	if _, err := rand.Read(iv); err != nil {
		return nil, err
	}
	out := make([]byte, len(calamariIVPrefix)+len(iv)+len(plain))
	copy(out, calamariIVPrefix)
	copy(out[len(calamariIVPrefix):], iv)
	cipher.NewCBCEncrypter(block, iv).CryptBlocks(out[len(calamariIVPrefix)+len(iv):], plain)
	return out, nil
}

// DecryptCalamariVariables reads the format back (for tests and tools).
func DecryptCalamariVariables(data []byte, password string) ([]wire.Variable, error) {
	n := len(calamariIVPrefix) + aes.BlockSize
	if len(data) < n+aes.BlockSize || string(data[:len(calamariIVPrefix)]) != calamariIVPrefix || (len(data)-n)%aes.BlockSize != 0 {
		return nil, errors.New("not a Calamari variables file")
	}
	block, err := calamariCipher(password)
	if err != nil {
		return nil, err
	}
	plain := make([]byte, len(data)-n)
	cipher.NewCBCDecrypter(block, data[len(calamariIVPrefix):n]).CryptBlocks(plain, data[n:])
	pad := int(plain[len(plain)-1])
	if pad == 0 || pad > aes.BlockSize || pad > len(plain) {
		return nil, errors.New("wrong password or corrupt file")
	}
	var list []calamariVariable
	if err := json.Unmarshal(plain[:len(plain)-pad], &list); err != nil {
		return nil, fmt.Errorf("wrong password or corrupt file: %w", err)
	}
	vars := make([]wire.Variable, len(list))
	for i, v := range list {
		vars[i] = wire.Variable{Name: v.K, Value: v.V, Sensitive: v.S}
	}
	return vars, nil
}

// RandomPassword returns a fresh password for one step's variables file.
func RandomPassword() string {
	const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, 24)
	rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}

// calamariCipher is AES with the key Calamari derives from password.
func calamariCipher(password string) (cipher.Block, error) {
	key, err := CalamariKey(password)
	if err != nil {
		return nil, err
	}
	return aes.NewCipher(key)
}
