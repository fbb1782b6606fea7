package mask

import (
	"encoding/base64"
	"testing"
)

// TestSafe: what a line still arriving may show now stops short of a tail
// that could begin a value or one of its forms, and only of that.
func TestSafe(t *testing.T) {
	s := NewSet("hunter2")
	b64 := base64.StdEncoding.EncodeToString([]byte("hunter2"))
	for in, want := range map[string]int{
		"":                   0,
		"progress 50%":       12,
		"login as admin:hun": 15,
		"login as h":         9,
		"hunter2 ok":         10,
		"hunter2":            7,
		"auth " + b64[:4]:    5,
	} {
		if got := s.Safe([]byte(in)); got != want {
			t.Errorf("Safe(%q) = %d, want %d", in, got, want)
		}
	}
	// A whole value held is never cut: its last byte "c" may begin its
	// base64 ("czNj..."), but the piece before that byte would show the
	// value unmasked.
	whole := NewSet("s3cr3t-57cf5dec84381d6c")
	for in, want := range map[string]int{
		"s3cr3t-57cf5dec84381d6c":          0,
		"half s3cr3t-57cf5dec84381d6c":     5,
		"half s3cr3t-57cf5dec84381d6c ok":  31,
		"s3cr3t-57cf5dec84381d6c and s3cr": 28,
	} {
		if got := whole.Safe([]byte(in)); got != want {
			t.Errorf("Safe(%q) = %d, want %d", in, got, want)
		}
	}
	var none *Set
	if none.Safe([]byte("abc")) != 3 {
		t.Error("a nil set holds nothing back")
	}
}
