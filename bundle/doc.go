// Package bundle is what the controller uploads to a worker once and caches
// there by content digest: cuttle's own static binary (the step runner, see
// package agent) and the Octopus-style helper scripts the runner sources.
package bundle
