// Package importer turns Octopus Deploy processes into cuttle runbooks.
//
// It reads Config-as-Code OCL files (.octopus/deployment_process.ocl,
// .octopus/runbooks/*.ocl, variables.ocl) with its own small OCL parser
// (ParseOCL), and deployment or runbook processes exported as JSON from
// Octopus's REST API (ParseREST). Convert compiles a Process into a
// runbook and a migration report that says, step by step, what was
// converted, with which warnings, and what was not and why.
package importer
