//go:build linux

package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// errNoImage: the engine has no such image.
var errNoImage = errors.New("no such image")

// engineSocket is the Docker engine's Unix socket the docker client would
// use, or "" when the client would go elsewhere (DOCKER_HOST over TCP or
// SSH, a context): then only the client itself knows how to reach it.
func engineSocket(getenv func(string) string, home string) string {
	if getenv("DOCKER_CONTEXT") != "" {
		return ""
	}
	cfg := getenv("DOCKER_CONFIG")
	if cfg == "" {
		cfg = filepath.Join(home, ".docker")
	}
	if b, err := os.ReadFile(filepath.Join(cfg, "config.json")); err == nil {
		var c struct {
			CurrentContext string `json:"currentContext"`
		}
		if json.Unmarshal(b, &c) != nil || (c.CurrentContext != "" && c.CurrentContext != "default") {
			return ""
		}
	}
	switch h := getenv("DOCKER_HOST"); {
	case h == "":
		return "/var/run/docker.sock"
	case strings.HasPrefix(h, "unix://"):
		return strings.TrimPrefix(h, "unix://")
	}
	return ""
}

// inspectImage is the present image's id and os/arch, as `docker image
// inspect --format '{{.Id}} {{.Os}}/{{.Architecture}}'` prints them. It
// asks the engine over its socket (a few milliseconds) when the client
// would use one, and runs the client (a client start and an engine round
// trip, 50-100 ms on a small worker) otherwise or when that fails for any
// other reason than a missing image.
func inspectImage(ctx context.Context, socket, image string) (id, platform string, err error) {
	if socket != "" {
		id, platform, err = inspectOverSocket(ctx, socket, image)
		if err == nil || errors.Is(err, errNoImage) {
			return id, platform, err
		}
	}
	out, err := exec.CommandContext(ctx, "docker", "image", "inspect", "--format", "{{.Id}} {{.Os}}/{{.Architecture}}", "--", image).Output()
	if err != nil {
		return "", "", errNoImage
	}
	id, platform, _ = strings.Cut(strings.TrimSpace(string(out)), " ")
	return id, platform, nil
}

func inspectOverSocket(ctx context.Context, socket, image string) (id, platform string, err error) {
	c := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", socket)
		},
	}}
	// The engine's route takes the name as it is, slashes included (as
	// the docker client sends it); a name that is not an image reference
	// is left to the client.
	if image == "" || strings.ContainsAny(image, "?#% \\\t\n") {
		return "", "", errors.New("not an image reference")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://docker/images/"+image+"/json", nil)
	if err != nil {
		return "", "", err
	}
	resp, err := c.Do(req)
	if err != nil {
		return "", "", err
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(http.MaxBytesReader(nil, resp.Body, 4<<20)); err != nil {
		return "", "", err
	}
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusNotFound:
		return "", "", errNoImage
	default:
		return "", "", errors.New("engine: " + resp.Status)
	}
	var img struct{ Id, Os, Architecture string }
	if err := json.Unmarshal(buf.Bytes(), &img); err != nil || img.Id == "" {
		return "", "", errors.New("engine: an image description without an id")
	}
	return img.Id, img.Os + "/" + img.Architecture, nil
}
