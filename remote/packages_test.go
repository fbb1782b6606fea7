package remote

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/cuttle-sh/cuttle/wire"
)

func TestPackageVariables(t *testing.T) {
	web := Package{Name: "Web", ID: "Acme.Web", Version: "1.2.3", FileName: "Acme.Web.1.2.3.zip", Extract: true}
	db := Package{Name: "Db", ID: "Acme.Db", Version: "2.0.0-rc.1", FileName: "Acme.Db.2.0.0-rc.1.tar.gz"}
	tests := []struct {
		name string
		pkgs []Package
		want []wire.Variable
	}{
		{"one extracted package also gets the unnamed id and version", []Package{web}, []wire.Variable{
			{Name: "Octopus.Action.Package[Web].ExtractedPath", Value: "/w/Web"},
			{Name: "Octopus.Action.Package[Web].PackageId", Value: "Acme.Web"},
			{Name: "Octopus.Action.Package[Web].PackageVersion", Value: "1.2.3"},
			{Name: "Octopus.Action.Package.PackageId", Value: "Acme.Web"},
			{Name: "Octopus.Action.Package.PackageVersion", Value: "1.2.3"},
		}},
		{"two packages, one placed unopened", []Package{web, db}, []wire.Variable{
			{Name: "Octopus.Action.Package[Web].ExtractedPath", Value: "/w/Web"},
			{Name: "Octopus.Action.Package[Web].PackageId", Value: "Acme.Web"},
			{Name: "Octopus.Action.Package[Web].PackageVersion", Value: "1.2.3"},
			{Name: "Octopus.Action.Package[Db].PackageFilePath", Value: "/w/Db.tar.gz"},
			{Name: "Octopus.Action.Package[Db].PackageFileName", Value: "Db.tar.gz"},
			{Name: "Octopus.Action.Package[Db].PackageId", Value: "Acme.Db"},
			{Name: "Octopus.Action.Package[Db].PackageVersion", Value: "2.0.0-rc.1"},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, PackageVariables(tc.pkgs, "/w")); diff != "" {
				t.Errorf("(-want +got)\n%s", diff)
			}
		})
	}
}

func TestSubstitutePackageVariables(t *testing.T) {
	vars := PackageVariables([]Package{{Name: "Db", ID: "Acme.Db", Version: "1.0.0", FileName: "Acme.Db.1.0.0.zip", Extract: true}}, "/w")
	script := `pkg="#{Octopus.Action.Package[Db].ExtractedPath}"; v=#{Octopus.Action.Package.PackageVersion}; #{Other}; #{if X}y#{/if}`
	want := `pkg="/w/Db"; v=1.0.0; #{Other}; #{if X}y#{/if}`
	if got := string(substitutePackageVariables([]byte(script), vars)); got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}
