package importer

import (
	"bytes"
	"encoding/json"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
)

// The REST API's shapes (DeploymentProcessResource, RunbookProcessResource
// and VariableSetResource), only the fields Convert reads.
type restDocument struct {
	RunbookID string         `json:"RunbookId"`
	Steps     []restStep     `json:"Steps"`
	Variables []restVariable `json:"Variables"`
}

type restStep struct {
	Name         string                     `json:"Name"`
	Condition    string                     `json:"Condition"`
	StartTrigger string                     `json:"StartTrigger"`
	Properties   map[string]json.RawMessage `json:"Properties"`
	Actions      []restAction               `json:"Actions"`
}

type restAction struct {
	Name                 string                         `json:"Name"`
	ActionType           string                         `json:"ActionType"`
	IsDisabled           bool                           `json:"IsDisabled"`
	WorkerPoolID         string                         `json:"WorkerPoolId"`
	WorkerPoolVariable   string                         `json:"WorkerPoolVariable"`
	Container            struct{ Image, FeedID string } `json:"Container"`
	Environments         []string                       `json:"Environments"`
	ExcludedEnvironments []string                       `json:"ExcludedEnvironments"`
	Channels             []string                       `json:"Channels"`
	TenantTags           []string                       `json:"TenantTags"`
	Packages             []struct {
		Name                string                     `json:"Name"`
		PackageID           string                     `json:"PackageId"`
		FeedID              string                     `json:"FeedId"`
		AcquisitionLocation string                     `json:"AcquisitionLocation"`
		Properties          map[string]json.RawMessage `json:"Properties"`
	} `json:"Packages"`
	Properties map[string]json.RawMessage `json:"Properties"`
}

type restVariable struct {
	Name        string              `json:"Name"`
	Value       *string             `json:"Value"`
	Type        string              `json:"Type"`
	IsSensitive bool                `json:"IsSensitive"`
	Scope       map[string][]string `json:"Scope"`
	Prompt      json.RawMessage     `json:"Prompt"`
}

// ParseREST reads a deployment process, runbook process or variable set
// as Octopus's REST API returns it (Steps[].Actions[] with ActionType and
// Properties; or Variables[]). A runbook process is named after its file.
func ParseREST(file string, src []byte) (Document, error) {
	dec := json.NewDecoder(bytes.NewReader(src))
	var d restDocument
	if err := dec.Decode(&d); err != nil {
		return Document{}, jsonError(file, src, err)
	}
	if d.Steps == nil && d.Variables != nil {
		return Document{Variables: variablesFromREST(file, d.Variables)}, nil
	}
	p := &Process{File: file, Name: "deployment-process"}
	if d.RunbookID != "" {
		p.Runbook = true
		p.Name = strings.TrimSuffix(filepath.Base(file), filepath.Ext(file))
	}
	for _, rs := range d.Steps {
		s := Step{Name: rs.Name, Condition: rs.Condition, StartTrigger: rs.StartTrigger, Properties: restProperties(rs.Properties)}
		s.ConditionExpression = s.Properties["Octopus.Step.ConditionVariableExpression"]
		for _, ra := range rs.Actions {
			a := Action{
				Name: ra.Name, ActionType: ra.ActionType, Disabled: ra.IsDisabled,
				Properties: restProperties(ra.Properties),
				WorkerPool: ra.WorkerPoolID, WorkerPoolVariable: ra.WorkerPoolVariable,
				Container:    ActionContainer{Feed: ra.Container.FeedID, Image: ra.Container.Image},
				Environments: ra.Environments, ExcludedEnvironments: ra.ExcludedEnvironments,
				Channels: ra.Channels, TenantTags: ra.TenantTags,
			}
			if a.Name == "" {
				a.Name = s.Name
			}
			for _, rp := range ra.Packages {
				a.Packages = append(a.Packages, Package{Name: rp.Name, PackageID: rp.PackageID, Feed: rp.FeedID,
					AcquisitionLocation: rp.AcquisitionLocation, Properties: restProperties(rp.Properties)})
			}
			s.Actions = append(s.Actions, a)
		}
		p.Steps = append(p.Steps, s)
	}
	return Document{Process: p}, nil
}

// restProperties keeps string-valued properties; a sensitive property
// comes as an object ({"HasValue":true,"NewValue":null}) with no value.
func restProperties(raw map[string]json.RawMessage) map[string]string {
	m := make(map[string]string, len(raw))
	for k, v := range raw {
		var s string
		if json.Unmarshal(v, &s) == nil {
			m[k] = s
		}
	}
	return m
}

func variablesFromREST(file string, list []restVariable) *Variables {
	vs := &Variables{File: file}
	for _, rv := range list {
		v := Variable{Name: rv.Name, Sensitive: rv.IsSensitive || rv.Type == "Sensitive",
			Prompted: len(rv.Prompt) > 0 && string(rv.Prompt) != "null"}
		if rv.Value != nil && !v.Sensitive {
			v.Value = *rv.Value
		}
		var other []string
		keys := make([]string, 0, len(rv.Scope))
		for k := range rv.Scope {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if k == "Environment" {
				v.Environments = rv.Scope[k]
			} else if len(rv.Scope[k]) > 0 {
				other = append(other, fmt.Sprintf("%s %s", k, strings.Join(rv.Scope[k], ",")))
			}
		}
		v.OtherScope = strings.Join(other, "; ")
		vs.List = append(vs.List, v)
	}
	return vs
}

// jsonError names the line and column of a JSON syntax or type error.
func jsonError(file string, src []byte, err error) error {
	off := int64(-1)
	switch e := err.(type) {
	case *json.SyntaxError:
		off = e.Offset
	case *json.UnmarshalTypeError:
		off = e.Offset
	}
	if off < 0 {
		return &ParseError{File: file, Pos: Pos{1, 1}, Msg: err.Error()}
	}
	if off > int64(len(src)) {
		off = int64(len(src))
	}
	before := src[:off]
	line := bytes.Count(before, []byte("\n")) + 1
	col := int(off) - (bytes.LastIndexByte(before, '\n') + 1)
	if col < 1 {
		col = 1
	}
	return &ParseError{File: file, Pos: Pos{line, col}, Msg: err.Error()}
}
