// Package serve runs runbooks on their schedules from a bastion: a cron
// scheduler that never overlaps two runs of one runbook, a run history
// kept under a state directory, and a loopback HTTP server with /healthz,
// Prometheus /metrics and an HTML page of runbooks and recent runs.
package serve
