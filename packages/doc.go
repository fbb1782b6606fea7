// Package packages is the controller's side of packages a step
// references: parsing `--package NAME=SOURCE[,...]` and runbook entries,
// the Octopus split of a file name into package ID and version, and
// acquiring a package's bytes on the controller (a local file, an https
// download checked against its digest, an OCI artifact). Sending them to
// a worker, with a delta against the version it holds, is package
// remote's; extracting them is the worker side's (package agent).
package packages
