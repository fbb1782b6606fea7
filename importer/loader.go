package importer

import (
	"reflect"
	"strings"

	"github.com/cuttle-sh/cuttle/config"
)

// Unsupported lists the fields rb uses that this build's runbook loader
// (config.Runbook) does not read yet, as steps[].packages,
// steps[].script.package... A runbook with any of them is refused by
// cuttle runbook run until the loader learns them (issue 17 for
// packages; parameters and retries come with the Octopus-fidelity work).
func Unsupported(rb *Runbook) []string {
	var out []string
	seen := map[string]bool{}
	unsupported(reflect.ValueOf(*rb), reflect.TypeOf(config.Runbook{}), "", func(path string) {
		if !seen[path] {
			seen[path] = true
			out = append(out, path)
		}
	})
	return out
}

// unsupported walks v's set fields and reports those whose yaml name the
// loader's type lt lacks; it descends into structs and slices of
// structs whose loader counterpart is a struct (or slice of one).
func unsupported(v reflect.Value, lt reflect.Type, prefix string, report func(string)) {
	known := yamlFields(lt)
	for i := 0; i < v.NumField(); i++ {
		f := v.Type().Field(i)
		name := yamlName(f)
		fv := v.Field(i)
		if name == "" || fv.IsZero() {
			continue
		}
		lf, ok := known[name]
		if !ok {
			report(prefix + name)
			continue
		}
		switch {
		case fv.Kind() == reflect.Struct && lf.Kind() == reflect.Struct:
			unsupported(fv, lf, prefix+name+".", report)
		case fv.Kind() == reflect.Slice && fv.Type().Elem().Kind() == reflect.Struct && lf.Kind() == reflect.Slice && lf.Elem().Kind() == reflect.Struct:
			for j := 0; j < fv.Len(); j++ {
				unsupported(fv.Index(j), lf.Elem(), prefix+name+"[].", report)
			}
		}
	}
}

func yamlFields(t reflect.Type) map[string]reflect.Type {
	m := map[string]reflect.Type{}
	for i := 0; i < t.NumField(); i++ {
		if n := yamlName(t.Field(i)); n != "" {
			m[n] = t.Field(i).Type
		}
	}
	return m
}

func yamlName(f reflect.StructField) string {
	tag := f.Tag.Get("yaml")
	name, _, _ := strings.Cut(tag, ",")
	if name == "-" || !f.IsExported() {
		return ""
	}
	if name == "" {
		return strings.ToLower(f.Name)
	}
	return name
}
