// Package octostache evaluates Octopus Deploy's variable template language,
// as its reference implementation Octostache does: #{Name} substitution with
// case-insensitive names, ##{ escapes, indexed collections
// (#{Octopus.Action[Web].Name}, #{A[#{B}]}), JSON values (#{Config.Key},
// #{Config[0]}), #{if}/#{elseif}/#{unless}/#{else}, #{each x in List},
// #{calc}, and Octostache's filters (#{Name | ToUpper}, #{Date | Format
// yyyy}, ...).
//
// Variables hold the names and values, in order; Evaluate renders a
// template against them. Values that are themselves templates are evaluated
// when they are used, and a value that refers back to itself is reported as
// a LoopError. A variable marked sensitive can be refused wherever a
// template's output is written somewhere a secret must not go
// (Options.RefuseSensitive).
//
// Behaviour follows Octostache's own test suite, ported as data under
// testdata/; the few cases that differ are listed in
// testdata/KNOWN_FAILURES.md.
package octostache
