// Package fleet turns the config's workers and pools into SSH targets and
// shared connections, and runs runbooks across them: ordered steps,
// output variables flowing forward, fan-out with per-worker limits.
package fleet
