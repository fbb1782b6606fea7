package fleet

import (
	"strconv"

	"github.com/cuttle-sh/cuttle/config"
)

// interleaves reports whether step s's output can interleave with other
// output of this run: it fans out to several workers, or runs alongside
// other steps (parallel_with). Only then is each line prefixed
// "[step@worker] "; a step alone prints as ssh would.
func interleaves(rb *config.Runbook, s config.RunbookStep, fanOut bool) bool {
	if fanOut || s.ParallelWith == "previous" {
		return true
	}
	for i, o := range rb.Steps {
		if o.Name == s.Name {
			return i+1 < len(rb.Steps) && rb.Steps[i+1].ParallelWith == "previous"
		}
	}
	return false
}

// outputPrefix is what each line of an attempt's output starts with:
// nothing unless its output interleaves with others'.
func outputPrefix(s config.RunbookStep, worker string, n int, policy retryPolicy, interleaved bool) string {
	switch {
	case !interleaved:
		return ""
	case policy.retries > 0:
		return "[" + s.Name + "@" + worker + " attempt " + strconv.Itoa(n) + "/" + strconv.Itoa(policy.retries+1) + "] "
	}
	return "[" + s.Name + "@" + worker + "] "
}

// stepHeader is the line logged as an attempt starts, so output that is
// not prefixed is still told apart: "step build on w1 (attempt 2/3)".
func stepHeader(s config.RunbookStep, worker string, n int, policy retryPolicy) string {
	h := "step " + s.Name + " on " + worker
	if policy.retries > 0 {
		h += " (attempt " + strconv.Itoa(n) + "/" + strconv.Itoa(policy.retries+1) + ")"
	}
	return h
}
