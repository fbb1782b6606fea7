//go:build linux

package agent

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/cuttle-sh/cuttle/wire"
)

// Subcommands of `cuttle step-runner`, each with its own flags.
var subcommands = map[string]func(ctx context.Context, fs *flag.FlagSet, args []string, std Stdio) (int, error){
	"run":             runCmd,
	"follow":          followCmd,
	"heartbeat":       heartbeatCmd,
	"watchdog":        watchdogCmd,
	"launch":          launchCmd,
	"pack":            packCmd,
	"remove-contents": removeContentsCmd,
	"detect-libc":     detectLibcCmd,
	"base64":          base64Cmd,
	"package-get":     packageGetCmd,
	"package-put":     packagePutCmd,
	"package-fetch":   packageFetchCmd,
	"package-place":   packagePlaceCmd,
	"files-get":       filesGetCmd,
	"files-put":       filesPutCmd,
}

// Main runs `cuttle step-runner SUBCOMMAND [flags] [-- args]` and returns
// the process's exit code. Its own failures are printed to std.Err as
// "cuttle: ..." with exit code 125.
func Main(ctx context.Context, args []string, std Stdio) int {
	if len(args) == 0 {
		return failed(std, fmt.Errorf("step-runner: a subcommand is required: %s", subcommandNames()))
	}
	cmd, ok := subcommands[args[0]]
	if !ok {
		return failed(std, fmt.Errorf("step-runner: unknown subcommand %q: want one of %s", args[0], subcommandNames()))
	}
	fs := flag.NewFlagSet("step-runner "+args[0], flag.ContinueOnError)
	fs.SetOutput(std.Err)
	code, err := cmd(ctx, fs, args[1:], std)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		return failed(std, err)
	}
	return code
}

func failed(std Stdio, err error) int {
	fmt.Fprintf(std.Err, "cuttle: %v\n", err)
	return exitCannotRun
}

// parse parses args into fs; with noArgs, positional arguments are refused.
func parse(fs *flag.FlagSet, args []string, noArgs bool) error {
	if err := fs.Parse(args); err != nil {
		return err
	}
	if noArgs && fs.NArg() > 0 {
		return fmt.Errorf("%s: unexpected arguments %q", fs.Name(), fs.Args())
	}
	return nil
}

func runCmd(ctx context.Context, fs *flag.FlagSet, args []string, std Stdio) (int, error) {
	var spec RunnerSpec
	fs.StringVar(&spec.WorkDir, "workdir", "", "work directory")
	fs.StringVar(&spec.Script, "script", "", "script file name in the work directory")
	fs.StringVar(&spec.Syntax, "syntax", "bash", "bash or sh")
	owner := fs.String("owner", "", "UID:GID to hand the work directory to")
	if err := parse(fs, args, true); err != nil {
		return 0, err
	}
	spec.OwnerUID, spec.OwnerGID = -1, -1
	if *owner != "" {
		u, g, ok := strings.Cut(*owner, ":")
		uid, err1 := strconv.Atoi(u)
		gid, err2 := strconv.Atoi(g)
		if !ok || err1 != nil || err2 != nil {
			return 0, fmt.Errorf("--owner %q: want UID:GID", *owner)
		}
		spec.OwnerUID, spec.OwnerGID = uid, gid
	}
	return Run(ctx, spec, std.In), nil
}

func followCmd(_ context.Context, fs *flag.FlagSet, args []string, std Stdio) (int, error) {
	var spec FollowSpec
	fs.StringVar(&spec.WorkDir, "workdir", "", "the step's work directory")
	fs.StringVar(&spec.Container, "container", "", "the step's container")
	fs.Int64Var(&spec.StdoutFrom, "stdout-from", 0, "stdout log offset")
	fs.Int64Var(&spec.StderrFrom, "stderr-from", 0, "stderr log offset")
	fs.DurationVar(&spec.EngineWait, "engine-wait", 5*time.Minute, "how long a Docker engine that does not answer is waited for (0: no limit)")
	whileRunning := fs.Bool("while-running", false, "the step's docker run is still in progress; look at the container only once stdin closes")
	if err := parse(fs, args, true); err != nil {
		return 0, err
	}
	if *whileRunning {
		// The controller closes stdin when its docker run ends.
		started := make(chan struct{})
		go func() {
			io.Copy(io.Discard, std.In)
			close(started)
		}()
		spec.Started = started
	}
	// Both logs go framed on stdout; stderr stays for plain diagnostics.
	code := Follow(spec, wire.NewFramer(std.Out))
	if spec.Started != nil && code == wire.FollowDone {
		// Beside docker run, the follower that sent the step's end waits
		// for the controller to close its session with the command that
		// follows (a session that ended by itself costs the controller a
		// message of its own in reply, a round trip's worth of turns).
		<-spec.Started
	}
	return code, nil
}

// deadmanFlags are the flags heartbeat and watchdog share.
func deadmanFlags(fs *flag.FlagSet) (file, container, workDir *string, window *time.Duration) {
	file = fs.String("file", "", "the heartbeat file")
	container = fs.String("container", "", "the step's container")
	workDir = fs.String("workdir", "", "the step's work directory")
	window = fs.Duration("window", 5*time.Minute, "how long the controller may be silent")
	return file, container, workDir, window
}

func heartbeatCmd(_ context.Context, fs *flag.FlagSet, args []string, std Stdio) (int, error) {
	file, container, workDir, window := deadmanFlags(fs)
	resumed := fs.Bool("resumed", false, "the watchdog already runs (a controller reattached)")
	if err := parse(fs, args, true); err != nil {
		return 0, err
	}
	return 0, Heartbeat(std.In, *file, *container, *workDir, *window, !*resumed)
}

func watchdogCmd(_ context.Context, fs *flag.FlagSet, args []string, _ Stdio) (int, error) {
	file, container, workDir, window := deadmanFlags(fs)
	if err := parse(fs, args, true); err != nil {
		return 0, err
	}
	Watchdog(*file, *container, *workDir, *window)
	return 0, nil
}

func launchCmd(ctx context.Context, fs *flag.FlagSet, args []string, std Stdio) (int, error) {
	var lf wire.LaunchFacts
	fs.StringVar(&lf.Home, "home", "", "the SSH user's home")
	fs.StringVar(&lf.ID, "id", "", "the step id")
	fs.StringVar(&lf.UID, "uid", "", "the SSH user's uid")
	fs.StringVar(&lf.GID, "gid", "", "the SSH user's gid")
	fs.StringVar(&lf.Arch, "arch", "", "uname -m")
	fs.StringVar(&lf.ImagePlatform, "image-platform", "", "the image's os/arch")
	fs.StringVar(&lf.DockerClient, "docker-client", "", "the docker client's version")
	inspect := fs.String("inspect", "", "ask the engine about this image first (image=ID OS/ARCH), instead of --image-platform")
	if err := parse(fs, args, false); err != nil {
		return 0, err
	}
	if *inspect != "" {
		id, platform, err := inspectImage(ctx, engineSocket(os.Getenv, lf.Home), *inspect)
		if err != nil {
			// The full path pulls it, or says why the engine cannot.
			fmt.Fprintf(std.Out, "image=\nlaunch=no image %s: %v\n", *inspect, err)
			return 0, nil
		}
		fmt.Fprintf(std.Out, "image=%s %s\n", id, platform)
		lf.ImagePlatform = platform
	}
	return 0, Launch(lf, fs.Args(), std.Out)
}

func packCmd(_ context.Context, fs *flag.FlagSet, args []string, std Stdio) (int, error) {
	workDir := fs.String("workdir", "", "the step's work directory")
	if err := parse(fs, args, false); err != nil {
		return 0, err
	}
	return 0, Pack(*workDir, fs.Args(), std.Out)
}

func removeContentsCmd(_ context.Context, fs *flag.FlagSet, args []string, _ Stdio) (int, error) {
	if err := parse(fs, args, false); err != nil {
		return 0, err
	}
	if fs.NArg() != 1 {
		return 0, fmt.Errorf("%s: want one directory, got %q", fs.Name(), fs.Args())
	}
	return 0, RemoveContents(fs.Arg(0))
}

func detectLibcCmd(_ context.Context, fs *flag.FlagSet, args []string, std Stdio) (int, error) {
	if err := parse(fs, args, true); err != nil {
		return 0, err
	}
	_, err := fmt.Fprintln(std.Out, DetectLibc())
	return 0, err
}

func base64Cmd(_ context.Context, fs *flag.FlagSet, args []string, std Stdio) (int, error) {
	decode := fs.Bool("decode", false, "decode instead of encode")
	if err := parse(fs, args, true); err != nil {
		return 0, err
	}
	return 0, Base64(std.In, std.Out, *decode)
}

func subcommandNames() string {
	names := make([]string, 0, len(subcommands))
	for n := range subcommands {
		names = append(names, n)
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

// packageFlags are the flags package-get, package-put and package-fetch
// share.
func packageFlags(fs *flag.FlagSet) *PackageSpec {
	p := &PackageSpec{Limits: DefaultLimits}
	fs.StringVar(&p.Home, "home", "", "the SSH user's home (the cache is under it)")
	fs.StringVar(&p.SHA256, "sha256", "", "the package file's sha256")
	fs.StringVar(&p.WorkDir, "workdir", "", "the step's work directory")
	fs.StringVar(&p.Name, "name", "", "the package reference's name")
	fs.StringVar(&p.Meta.ID, "id", "", "the package ID")
	fs.StringVar(&p.Meta.Version, "version", "", "the package version")
	fs.StringVar(&p.Meta.FileName, "file", "", "the package's file name")
	fs.BoolVar(&p.Extract, "extract", true, "extract it (false: place the file unopened)")
	fs.Int64Var(&p.Limits.MaxBytes, "max-bytes", DefaultLimits.MaxBytes, "the most an archive may extract to")
	fs.IntVar(&p.Limits.MaxEntries, "max-entries", DefaultLimits.MaxEntries, "the most entries an archive may have")
	fs.BoolVar(&p.Share, "share", false, "give others the owner's permission bits (the step runs as a non-root user)")
	fs.BoolVar(&p.CacheOnly, "cache-only", false, "acquire it into the cache without placing it (package-place places it)")
	return p
}

func packageGetCmd(_ context.Context, fs *flag.FlagSet, args []string, std Stdio) (int, error) {
	p := packageFlags(fs)
	if err := parse(fs, args, true); err != nil {
		return 0, err
	}
	return 0, PackageGet(*p, std.Out)
}

func packagePutCmd(_ context.Context, fs *flag.FlagSet, args []string, std Stdio) (int, error) {
	p := packageFlags(fs)
	base := fs.String("base", "", "the cached version a delta on stdin is against (none: the whole file)")
	size := fs.Int64("size", 0, "the package file's size")
	cacheMaxFlag(fs, p)
	if err := parse(fs, args, true); err != nil {
		return 0, err
	}
	return 0, PackagePut(*p, *base, *size, std.In)
}

func cacheMaxFlag(fs *flag.FlagSet, p *PackageSpec) {
	fs.Int64Var(&p.CacheMax, "cache-max-bytes", 0, "trim the package cache to this size afterwards, least recently used first (0: no cap)")
}

// packageFetchCmd reads where from (and the credentials) as JSON on
// stdin, never in argv; --sha256 and --file are not used: the source
// gives them.
func packageFetchCmd(ctx context.Context, fs *flag.FlagSet, args []string, std Stdio) (int, error) {
	p := packageFlags(fs)
	cacheMaxFlag(fs, p)
	fs.Int64Var(&p.MaxDownload, "max-download-bytes", DefaultMaxDownload, "the most the download may be")
	showProgress := fs.Bool("progress", false, "write the download's progress on stderr (cuttle-progress DONE TOTAL lines)")
	if err := parse(fs, args, true); err != nil {
		return 0, err
	}
	var req wire.PackageFetch
	if err := json.NewDecoder(io.LimitReader(std.In, wire.MaxPackageFetch)).Decode(&req); err != nil {
		return 0, fmt.Errorf("package %s: reading the request on stdin: %w", p.Name, err)
	}
	var progress io.Writer
	if *showProgress {
		progress = std.Err
	}
	return 0, PackageFetch(ctx, *p, req, std.Out, progress)
}

// packagePlaceCmd reads the packages to place as a JSON list
// (wire.PackagePlacement) on stdin.
func packagePlaceCmd(_ context.Context, fs *flag.FlagSet, args []string, std Stdio) (int, error) {
	home := fs.String("home", "", "the SSH user's home (the cache is under it)")
	workDir := fs.String("workdir", "", "the step's work directory")
	share := fs.Bool("share", false, "give others the owner's permission bits (the step runs as a non-root user)")
	if err := parse(fs, args, true); err != nil {
		return 0, err
	}
	if *home == "" || *workDir == "" {
		return 0, errors.New("package-place: --home and --workdir are required")
	}
	var pkgs []wire.PackagePlacement
	if err := json.NewDecoder(io.LimitReader(std.In, wire.MaxPackagePlace)).Decode(&pkgs); err != nil {
		return 0, fmt.Errorf("package-place: reading the packages on stdin: %w", err)
	}
	return 0, PackagePlace(*home, *workDir, *share, pkgs, std.Out)
}

func filesGetCmd(_ context.Context, fs *flag.FlagSet, args []string, std Stdio) (int, error) {
	workDir := fs.String("workdir", "", "the step's work directory")
	if err := parse(fs, args, false); err != nil {
		return 0, err
	}
	return 0, FilesGet(*workDir, fs.Args(), std.Out)
}

func filesPutCmd(_ context.Context, fs *flag.FlagSet, args []string, std Stdio) (int, error) {
	workDir := fs.String("workdir", "", "the step's work directory")
	if err := parse(fs, args, true); err != nil {
		return 0, err
	}
	return 0, FilesPut(*workDir, std.In)
}
