package wire

import "testing"

func TestWebUtilityURLEncode(t *testing.T) {
	// What System.Net.WebUtility.UrlEncode returns for these.
	for in, want := range map[string]string{
		"some@:/password": "some%40%3A%2Fpassword",
		"a b+c":           "a+b%2Bc",
		"-_.!*()~'":       "-_.!*()%7E%27",
		"pä":              "p%C3%A4",
	} {
		if got := WebUtilityURLEncode(in); got != want {
			t.Errorf("WebUtilityURLEncode(%q) = %q, want %q", in, got, want)
		}
	}
}
