package remote

import "testing"

func TestUserOption(t *testing.T) {
	for _, c := range []struct {
		opts []string
		user string
		set  bool
	}{
		{nil, "", false},
		{[]string{"--user", "app"}, "app", true},
		{[]string{"--user=1000:1000"}, "1000:1000", true},
		{[]string{"-u", "0"}, "0", true},
		{[]string{"-u1000"}, "1000", true},
		{[]string{"--memory", "1g", "-u=app"}, "app", true},
		{[]string{"--userns", "host"}, "", false},
	} {
		if u, set := userOption(c.opts); u != c.user || set != c.set {
			t.Errorf("userOption(%q) = %q, %v; want %q, %v", c.opts, u, set, c.user, c.set)
		}
	}
}
