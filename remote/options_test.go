package remote

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/cuttle-sh/cuttle/internal/shellquote"
)

func TestSplitOptions(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    []string
		wantErr string
	}{
		{name: "plain", in: "-e A=1 --memory 512m", want: []string{"-e", "A=1", "--memory", "512m"}},
		{name: "quotes", in: `-e 'A=x y' -e "B=\"q\" \$HOME" -e C=a\ b`, want: []string{"-e", "A=x y", "-e", `B="q" $HOME`, "-e", "C=a b"}},
		{name: "empty", in: "  ", want: nil},
		{name: "newlines", in: "-e A=1\n-e B=2", want: []string{"-e", "A=1", "-e", "B=2"}},
		{name: "glob and tilde stay literal", in: "-v ~/x:/y -e '*'", want: []string{"-v", "~/x:/y", "-e", "*"}},
		{name: "semicolon", in: "-e A=1; rm -rf ~", wantErr: "container options"},
		{name: "and-and", in: "-e A && touch /tmp/x", wantErr: "container options"},
		{name: "pipe", in: "-e A | sh", wantErr: "container options"},
		{name: "command substitution", in: "-e A=$(touch /tmp/pwned)", wantErr: "command substitution"},
		{name: "backticks", in: "-e A=`id`", wantErr: "command substitution"},
		{name: "variable", in: "-e A=$SECRET", wantErr: "$variable"},
		{name: "variable in double quotes", in: `-e "A=${SECRET}"`, wantErr: "$variable"},
		{name: "arithmetic", in: "-e $((1+1))", wantErr: "arithmetic"},
		{name: "unterminated", in: "-e 'A", wantErr: "container options"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := SplitOptions(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("SplitOptions(%q) = %q, %v; want error with %q", tt.in, got, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("SplitOptions(%q) (-want +got):\n%s", tt.in, diff)
			}
		})
	}
}

func TestValidateOptions(t *testing.T) {
	pol := ContainerOptionsPolicy{Protected: []string{"/home/d/.cuttle/work/1", "/home/d/.cuttle/bundles/abc"}}
	priv := pol
	priv.AllowPrivileged = true
	tests := []struct {
		name    string
		opts    string
		pol     ContainerOptionsPolicy
		wantErr string
	}{
		{name: "env and limits", opts: "-e A=1 --env=B=2 -eC=3 --memory 1g --cpus=1.5 --network none --init", pol: pol},
		{name: "combined bools then value", opts: "-Pe A=1", pol: pol},
		{name: "user mount", opts: "-v /tmp:/tmp --mount type=bind,source=/srv/cache,target=/cache", pol: pol},
		{name: "label", opts: "--label team=x", pol: pol},
		{name: "rm", opts: "--rm", pol: pol, wantErr: "--rm is not allowed"},
		{name: "name", opts: "--name x", pol: pol, wantErr: "--name is not allowed"},
		{name: "entrypoint", opts: "--entrypoint=/bin/sh", pol: pol, wantErr: "--entrypoint"},
		{name: "workdir short", opts: "-w /", pol: pol, wantErr: "-w is not allowed"},
		{name: "interactive in a bundle", opts: "-it", pol: pol, wantErr: "-i is not allowed"},
		{name: "own label", opts: "--label io.cuttle.step=x", pol: pol, wantErr: "io.cuttle"},
		{name: "over the work dir", opts: "-v /tmp:/home/d/.cuttle/work/1", pol: pol, wantErr: "would replace"},
		{name: "into the bundle", opts: "--mount type=bind,src=/tmp,dst=/home/d/.cuttle/bundles/abc/cuttle", pol: pol, wantErr: "would replace"},
		{name: "privileged", opts: "--privileged", pol: pol, wantErr: "allow_privileged"},
		{name: "host root", opts: "-v /:/host", pol: pol, wantErr: "allow_privileged"},
		{name: "docker socket", opts: "-v /var/run/docker.sock:/var/run/docker.sock", pol: pol, wantErr: "allow_privileged"},
		{name: "pid host", opts: "--pid=host", pol: pol, wantErr: "allow_privileged"},
		{name: "cap add", opts: "--cap-add SYS_ADMIN", pol: pol, wantErr: "allow_privileged"},
		{name: "privileged allowed", opts: "--privileged -v /:/host", pol: priv},
		{name: "bare word", opts: "alpine", pol: pol, wantErr: "is not an option"},
		{name: "smuggled image", opts: "-e A=1 evil/image sh", pol: pol, wantErr: "is not an option"},
		{name: "double dash", opts: "--", pol: pol, wantErr: "is not an option"},
		{name: "missing value", opts: "-e", pol: pol, wantErr: "needs a value"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			words, err := SplitOptions(tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			err = ValidateOptions(words, tt.pol)
			if tt.wantErr == "" && err != nil {
				t.Fatalf("ValidateOptions(%q) = %v", tt.opts, err)
			}
			if tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("ValidateOptions(%q) = %v, want %q", tt.opts, err, tt.wantErr)
			}
		})
	}
}

func FuzzSplitOptions(f *testing.F) {
	for _, s := range []string{"-e A=1", `-e "x y"`, "-v a:b", "$(id)", "a;b", "'", `\`, "-e A\\\nB"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		words, err := SplitOptions(s)
		if err != nil {
			return
		}
		// Quoting the words again and splitting them gives them back:
		// the splitter and the one quoting function agree.
		line, err := shellquote.Join(words...)
		if err != nil {
			return
		}
		again, err := SplitOptions(line)
		if err != nil || !cmp.Equal(words, again, cmpopts.EquateEmpty()) {
			t.Fatalf("split %q -> %q, quoted %q, split again %q (%v)", s, words, line, again, err)
		}
		_ = ValidateOptions(words, ContainerOptionsPolicy{})
	})
}
