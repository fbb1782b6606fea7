package main

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/cuttle-sh/cuttle/fleet"
	"github.com/cuttle-sh/cuttle/internal/mask"
	"github.com/cuttle-sh/cuttle/remote"
)

func TestReportOfReportedAndAttempts(t *testing.T) {
	masks := mask.NewSet("hunter2")
	res := remote.Result{ID: "b", ExitCode: 0, Reported: remote.Reported{
		EnvironmentState:    []remote.EnvironmentState{{Key: "K", Value: "plain hunter2", Type: "Url"}, {Key: "S", Value: "anything", Type: "State", Sensitive: true}},
		KubernetesManifests: []remote.KubernetesManifest{{Namespace: "ns", Manifest: "pw: hunter2\n"}},
		Targets:             []remote.TargetChange{{Action: "create", Name: "web", Inputs: `{"pw":"hunter2"}`}, {Action: "delete", Machine: "old"}},
	}}
	var sr stepReport
	sr.record(res, nil, masks)
	sr.recordAttempts([]fleet.Attempt{
		{Result: remote.Result{ID: "a", WorkDir: "/w/a", ExitCode: 3}},
		{Err: errors.New("docker run failed: hunter2")},
		{Result: res},
	}, masks)
	b, err := json.Marshal(sr)
	if err != nil {
		t.Fatal(err)
	}
	got := string(b)
	for _, want := range []string{`"environment_state":[{"key":"K","value":"plain ********","type":"Url"},{"key":"S","value":"********","type":"State","sensitive":true}]`,
		`"kubernetes_manifests":[{"namespace":"ns","manifest":"pw: ********\n"}]`,
		`"targets":[{"action":"create","name":"web","inputs":"{\"pw\":\"********\"}"},{"action":"delete","machine":"old"}]`,
		`"attempts":[{"attempt":1,"id":"a","work_dir":"/w/a","exit_code":3,"duration_ms":0},{"attempt":2,"exit_code":125,"duration_ms":0,"error":"docker run failed: ********"},{"attempt":3,"id":"b","exit_code":0,"duration_ms":0}]`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("report lacks %s:\n%s", want, got)
		}
	}
	if strings.Contains(got, "hunter2") || strings.Contains(got, "anything") {
		t.Errorf("report shows a secret:\n%s", got)
	}
}
