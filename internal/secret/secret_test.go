package secret

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

func TestValueNeverFormats(t *testing.T) {
	s := New("hunter2")
	j, _ := json.Marshal(struct{ P Value }{s})
	for _, out := range []string{fmt.Sprint(s), fmt.Sprintf("%v %+v %#v %s %q", s, s, s, s, s), string(j)} {
		if strings.Contains(out, "hunter2") {
			t.Errorf("secret leaked in %q", out)
		}
	}
	if s.Reveal() != "hunter2" || !s.IsSet() || New("").IsSet() {
		t.Fatal("Reveal/IsSet wrong")
	}
}
