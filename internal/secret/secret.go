// Package secret holds values that must never be printed: registry
// passwords, SSH passwords, sensitive variables.
package secret

// Value is a secret string. Every way of formatting it prints [REDACTED];
// the real value comes out only through Reveal.
type Value struct{ v string }

// New wraps s.
func New(s string) Value { return Value{v: s} }

// Reveal returns the secret itself. Call it only where the value is handed
// to the thing that needs it (an SSH auth method, a stdin pipe).
func (s Value) Reveal() string { return s.v }

// IsSet reports whether a non-empty value is held, for logging as a boolean.
func (s Value) IsSet() bool { return s.v != "" }

// String implements fmt.Stringer.
func (s Value) String() string { return "[REDACTED]" }

// GoString implements fmt.GoStringer, so %#v does not leak either.
func (s Value) GoString() string { return "[REDACTED]" }

// MarshalJSON implements json.Marshaler.
func (s Value) MarshalJSON() ([]byte, error) { return []byte(`"[REDACTED]"`), nil }

// MarshalText implements encoding.TextMarshaler (zerolog, YAML).
func (s Value) MarshalText() ([]byte, error) { return []byte("[REDACTED]"), nil }
