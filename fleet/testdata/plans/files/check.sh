#!/bin/sh
echo checking #{Octopus.Step.Name}
