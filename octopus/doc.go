// Package octopus is the controller's side of Octopus compatibility: the
// ##octopus[...] service-message parser and formatter, and Calamari's
// encrypted variables file format.
package octopus
