package importer

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseOCLValues(t *testing.T) {
	src := `step "run-a-script" {
    name = "Run a Script"
    condition = "Variable"
    properties = {
        Octopus.Step.ConditionVariableExpression = "#{if Octopus.Deployment.Error == \"\"}true#{/if}"
    }

    action {
        action_type = "Octopus.Script"
        properties = {
            Octopus.Action.Script.ScriptBody = <<-EOT
                echo "${NAME:-none} #{Greeting}"
                cat <<EOF
                  indented
                EOF
                EOT
            Octopus.Action.Script.Syntax = "Bash"
            "Quoted.Key" = "a\tbé\\n"
        }
        environments = ["staging", "production"]
        is_disabled = false
        packages "Db" {
            package_id = "Acme.Db"
        }
    }
}
# a comment
// another
`
	b, err := ParseOCL("t.ocl", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	if len(b.Blocks) != 1 || b.Blocks[0].Type != "step" || b.Blocks[0].Labels[0] != "run-a-script" {
		t.Fatalf("blocks: %+v", b.Blocks)
	}
	step := &b.Blocks[0].Body
	if got := attrMap(step, "properties")["Octopus.Step.ConditionVariableExpression"]; got != `#{if Octopus.Deployment.Error == ""}true#{/if}` {
		t.Errorf("escaped quotes: %q", got)
	}
	act := &blocksOf(step, "action")[0].Body
	props := attrMap(act, "properties")
	want := map[string]string{
		"Octopus.Action.Script.ScriptBody": "echo \"${NAME:-none} #{Greeting}\"\ncat <<EOF\n  indented\nEOF",
		"Octopus.Action.Script.Syntax":     "Bash",
		"Quoted.Key":                       "a\tbé\\n",
	}
	if d := cmp.Diff(want, props); d != "" {
		t.Errorf("properties (-want +got):\n%s", d)
	}
	if d := cmp.Diff([]string{"staging", "production"}, attrList(act, "environments")); d != "" {
		t.Errorf("list: %s", d)
	}
	if attrString(act, "is_disabled") != "false" {
		t.Errorf("bool: %q", attrString(act, "is_disabled"))
	}
	if p := blocksOf(act, "packages"); len(p) != 1 || p[0].Labels[0] != "Db" || attrString(&p[0].Body, "package_id") != "Acme.Db" {
		t.Errorf("packages: %+v", p)
	}
}

func TestParseOCLHeredocPlain(t *testing.T) {
	b, err := ParseOCL("t.ocl", []byte("x = <<EOT\n  a\n    b\nEOT\ny = 1\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got := attrString(b, "x"); got != "  a\n    b" {
		t.Errorf("<<EOT keeps indentation: %q", got)
	}
	if got := attrString(b, "y"); got != "1" {
		t.Errorf("after the heredoc: %q", got)
	}
}

// TestParseOCLHeredocIndent: <<- removes the indentation the lines share
// but no more than the marker line's, as Octopus's OCL does; CRLF lines
// stay CRLF.
func TestParseOCLHeredocIndent(t *testing.T) {
	tests := []struct{ name, src, want string }{
		{"marker less indented keeps the rest", "x = <<-EOT\n        a\n          b\n    EOT\n", "    a\n      b"},
		{"marker more indented: the lines' indent", "x = <<-EOT\n  a\n    b\n      EOT\n", "a\n  b"},
		{"blank and short lines become empty", "x = <<-EOT\n    a\n  \n\n    b\n    EOT\n", "a\n\n\nb"},
		{"crlf", "x = <<-EOT\r\n  a\r\n  b\r\n  EOT\r\n", "a\r\nb"},
		{"marker at the end of the file", "x = <<EOT\na\nEOT", "a"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := ParseOCL("t.ocl", []byte(tt.src))
			if err != nil {
				t.Fatal(err)
			}
			if got := attrString(b, "x"); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestParseOCLErrors(t *testing.T) {
	tests := []struct {
		name, src string
		line, col int
	}{
		{"unclosed string", "a = \"x\nb = 1\n", 1, 5},
		{"unclosed block", "step \"x\" {\n  name = \"a\"\n", 3, 1},
		{"unclosed heredoc", "a = <<-EOT\n  x\n", 1, 5},
		{"bare word value", "a = {\n  K = nope\n}\n", 2, 7},
		{"stray brace", "}\n", 1, 1},
		{"missing equals in map", "p = {\n  A.B \"x\"\n}\n", 2, 7},
		{"list without comma", "a = [\"x\" \"y\"]\n", 1, 10},
		{"unknown escape (Octopus knows none but n r t \" \\)", "a = \"\\u00e9\"\n", 1, 6},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseOCL("f.ocl", []byte(tt.src))
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("want a *ParseError, got %v", err)
			}
			if pe.File != "f.ocl" || pe.Pos.Line != tt.line || pe.Pos.Col != tt.col {
				t.Errorf("at %s:%d:%d, want f.ocl:%d:%d (%v)", pe.File, pe.Pos.Line, pe.Pos.Col, tt.line, tt.col, err)
			}
		})
	}
}

func FuzzParseOCL(f *testing.F) {
	f.Add("step \"a\" {\n action {\n properties = {\n A.B = <<-EOT\n  x\n  EOT\n }\n }\n}\n")
	f.Add("variable \"V\" {\n value \"1\" {\n environment = [\"prod\"]\n }\n}\n")
	f.Add("a = \"\\u00e9\"\n")
	f.Fuzz(func(t *testing.T, src string) {
		b, err := ParseOCL("f.ocl", []byte(src))
		if err != nil {
			var pe *ParseError
			if !errors.As(err, &pe) || pe.Pos.Line < 1 || pe.Pos.Col < 1 {
				t.Fatalf("error without a position: %v", err)
			}
			return
		}
		if _, err := ProcessFromOCL("f.ocl", b); err != nil {
			t.Fatal(err)
		}
	})
}
