package wire

import "testing"

func TestNormalizeScript(t *testing.T) {
	for _, c := range []struct{ name, in, want string }{
		{"bom and crlf", "\xef\xbb\xbf#!/bin/bash\r\necho a\r\n", "#!/bin/bash\necho a\n"},
		{"lone cr stays", "printf 'a\rb'\r\n", "printf 'a\rb'\n"},
		{"bom only at the start", "echo \xef\xbb\xbf\n", "echo \xef\xbb\xbf\n"},
		{"unix script untouched", "#!/bin/sh\necho a\n", "#!/bin/sh\necho a\n"},
		{"cr cr lf", "a\r\r\n", "a\r\n"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := string(NormalizeScript([]byte(c.in))); got != c.want {
				t.Errorf("NormalizeScript(%q) = %q, want %q", c.in, got, c.want)
			}
		})
	}
}
