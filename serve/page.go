package serve

import (
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"time"
)

// Handler serves /healthz, /metrics, the page (/), a run's page
// (/runs/<id>), its log (/runs/<id>/log) and live log (/runs/<id>/events,
// server-sent events), and the buttons: POST /runbooks/<name>/run and
// POST /runs/<id>/cancel. With a Token, all but /healthz need it.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	mux.Handle("GET /metrics", s.auth(s.Metrics.Handler()))
	mux.HandleFunc("POST /login", s.login)
	mux.Handle("GET /{$}", s.auth(http.HandlerFunc(s.index)))
	mux.Handle("GET /runs/{id}", s.auth(http.HandlerFunc(s.runPage)))
	mux.Handle("GET /runs/{id}/log", s.auth(http.HandlerFunc(s.runLog)))
	mux.Handle("GET /runs/{id}/events", s.auth(http.HandlerFunc(s.runEvents)))
	mux.Handle("POST /runbooks/{name}/run", s.auth(http.HandlerFunc(s.runNow)))
	mux.Handle("POST /runs/{id}/cancel", s.auth(http.HandlerFunc(s.cancelRun)))
	return mux
}

const tokenCookie = "cuttle_serve_token"

// auth lets a request through when no token is set, or when it presents
// the token as "Authorization: Bearer" or in the cookie POST /login sets.
// The comparison takes the same time whatever the guess.
func (s *Server) auth(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.Token == "" {
			next.ServeHTTP(w, r)
			return
		}
		given := ""
		if h := r.Header.Get("Authorization"); len(h) > 7 && h[:7] == "Bearer " {
			given = h[7:]
		} else if c, err := r.Cookie(tokenCookie); err == nil {
			given = c.Value
		}
		if subtle.ConstantTimeCompare([]byte(given), []byte(s.Token)) != 1 {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			w.WriteHeader(http.StatusUnauthorized)
			loginPage.Execute(w, nil)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// login sets the token cookie from a form, for browsers.
func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	tok := r.PostFormValue("token")
	if s.Token == "" || subtle.ConstantTimeCompare([]byte(tok), []byte(s.Token)) != 1 {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(http.StatusUnauthorized)
		loginPage.Execute(w, nil)
		return
	}
	http.SetCookie(w, &http.Cookie{Name: tokenCookie, Value: tok, Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil})
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

type runbookView struct {
	Name, Schedule, Words, Next, LastStatus, LastSuccess string
}

func (s *Server) index(w http.ResponseWriter, r *http.Request) {
	last, err := s.Store.Runbooks(r.Context())
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	var rbs []runbookView
	runbooks, next, _ := s.scheduled()
	for _, rb := range runbooks {
		v := runbookView{Name: rb.Name, Schedule: rb.Schedule, Words: ScheduleWords(rb.Schedule), LastStatus: "never run", LastSuccess: "never"}
		if at, ok := next[rb.Name]; ok {
			v.Next = at.Format(time.RFC3339)
		}
		if st, ok := last[rb.Name]; ok {
			v.LastStatus = st.LastStatus
			if !st.LastSuccess.IsZero() {
				v.LastSuccess = st.LastSuccess.Format(time.RFC3339)
			}
		}
		rbs = append(rbs, v)
	}
	runs, err := s.Store.Recent(r.Context(), 50)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	var running, finished []Run
	for _, lr := range s.runningRuns() {
		running = append(running, lr.run)
	}
	for _, run := range runs {
		if run.Status != StatusRunning {
			finished = append(finished, run)
		}
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	indexPage.Execute(w, map[string]any{"Runbooks": rbs, "Running": running, "Runs": finished})
}

func (s *Server) runPage(w http.ResponseWriter, r *http.Request) {
	run, err := s.Store.Get(r.Context(), r.PathValue("id"))
	if failed(w, r, err) {
		return
	}
	var log []byte
	if s.running(run.ID) == nil {
		log, _ = s.Store.Log(r.Context(), run.ID)
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	runPage.Execute(w, map[string]any{"Run": run, "Log": string(log), "Running": s.running(run.ID) != nil})
}

func (s *Server) runLog(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	log, err := s.Store.Log(r.Context(), id)
	if lr := s.running(id); lr != nil {
		log, err = lr.log.Bytes(), nil
	}
	if failed(w, r, err) {
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Write(log)
}

// failed answers an error from the store: 404 for a run it does not
// hold, 500 otherwise. It reports whether there was an error.
func failed(w http.ResponseWriter, r *http.Request, err error) bool {
	switch {
	case err == nil:
		return false
	case errors.Is(err, ErrNoRun):
		http.NotFound(w, r)
	default:
		http.Error(w, err.Error(), http.StatusInternalServerError)
	}
	return true
}

// runEvents streams a running run's log as server-sent events: each
// event's data is a JSON string, a piece of the log; "end" closes it.
func (s *Server) runEvents(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	lr := s.running(id)
	if lr == nil {
		s.runLog(w, r) // finished (or unknown): the whole log, or 404
		return
	}
	fl, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "streaming unsupported", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	for off := 0; ; {
		chunk, changed, done := lr.log.from(off)
		if len(chunk) > 0 {
			b, _ := json.Marshal(string(chunk))
			fmt.Fprintf(w, "data: %s\n\n", b)
			off += len(chunk)
		}
		if done {
			fmt.Fprint(w, "event: end\ndata: {}\n\n")
			fl.Flush()
			return
		}
		fl.Flush()
		select {
		case <-changed:
		case <-r.Context().Done():
			return
		}
	}
}

// runNow starts a run of a runbook now, unless one is going (then it is
// skipped and counted, as a scheduled one would be).
func (s *Server) runNow(w http.ResponseWriter, r *http.Request) {
	_, _, jobs := s.scheduled()
	job := jobs[r.PathValue("name")]
	if job == nil {
		http.NotFound(w, r)
		return
	}
	go job(time.Time{})
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

func (s *Server) cancelRun(w http.ResponseWriter, r *http.Request) {
	lr := s.running(r.PathValue("id"))
	if lr == nil {
		http.Error(w, "no such run is running", http.StatusNotFound)
		return
	}
	lr.cancel(errors.New("cancelled from the page"))
	http.Redirect(w, r, "/runs/"+lr.run.ID, http.StatusSeeOther)
}

// HumanDuration rounds d for people: 850ms, 4.2s, 1m13s.
func HumanDuration(d time.Duration) string {
	switch {
	case d < time.Second:
		return d.Round(time.Millisecond).String()
	case d < time.Minute:
		return d.Round(100 * time.Millisecond).String()
	}
	return d.Round(time.Second).String()
}

var funcs = template.FuncMap{"human": HumanDuration, "when": func(t time.Time) string { return t.Format(time.RFC3339) }}

const style = `<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;margin-bottom:1em}td,th{border:1px solid #ccc;padding:4px 8px;text-align:left}.failed,.interrupted{color:#b00}.succeeded{color:#070}.running{color:#06c}pre{background:#f6f6f6;padding:1em;white-space:pre-wrap}</style>`

var loginPage = template.Must(template.New("login").Parse(`<!doctype html>
<html><head><meta charset="utf-8"><title>cuttle serve</title>` + style + `</head><body><h1>cuttle serve</h1>
<form method="post" action="/login"><label>Token <input type="password" name="token" autofocus></label> <button>Sign in</button></form></body></html>
`))

var indexPage = template.Must(template.New("index").Funcs(funcs).Parse(`<!doctype html>
<html><head><meta charset="utf-8"><title>cuttle serve</title>` + style + `</head>
<body><h1>cuttle serve</h1>
<h2>Runbooks</h2>
<table><tr><th>runbook</th><th>schedule</th><th>next run</th><th>last status</th><th>last success</th><th></th></tr>
{{range .Runbooks}}<tr><td>{{.Name}}</td><td>{{.Words}} <code>{{.Schedule}}</code></td><td>{{.Next}}</td><td class="{{.LastStatus}}">{{.LastStatus}}</td><td>{{.LastSuccess}}</td>
<td><form method="post" action="/runbooks/{{.Name}}/run"><button>Run now</button></form></td></tr>
{{end}}</table>
<h2>Running</h2>
{{if .Running}}<table><tr><th>run</th><th>runbook</th><th>started</th><th></th></tr>
{{range .Running}}<tr><td><a href="/runs/{{.ID}}">{{.ID}}</a></td><td>{{.Runbook}}</td><td>{{when .Start}}</td>
<td><form method="post" action="/runs/{{.ID}}/cancel"><button>Cancel</button></form></td></tr>
{{end}}</table>{{else}}<p>No run is going.</p>{{end}}
<h2>Recent runs</h2>
<table><tr><th>run</th><th>runbook</th><th>started</th><th>duration</th><th>status</th></tr>
{{range .Runs}}<tr><td><a href="/runs/{{.ID}}">{{.ID}}</a></td><td>{{.Runbook}}</td><td>{{when .Start}}</td><td>{{human .Duration}}</td><td class="{{.Status}}">{{.Status}}</td></tr>
{{end}}</table></body></html>
`))

var runPage = template.Must(template.New("run").Funcs(funcs).Parse(`<!doctype html>
<html><head><meta charset="utf-8"><title>{{.Run.Runbook}} {{.Run.ID}}</title>` + style + `</head>
<body><p><a href="/">cuttle serve</a></p>
<h1>{{.Run.Runbook}} <span class="{{.Run.Status}}">{{.Run.Status}}</span></h1>
<p>Run {{.Run.ID}}, started {{when .Run.Start}}{{if not .Running}}, took {{human .Run.Duration}}{{end}}.</p>
{{if .Running}}<form method="post" action="/runs/{{.Run.ID}}/cancel"><button>Cancel</button></form>{{end}}
{{if .Run.Steps}}<h2>Steps</h2>
<table><tr><th>step</th><th>worker</th><th>exit code</th><th>duration</th><th>output variables</th><th>artifacts</th><th>error</th></tr>
{{range .Run.Steps}}<tr><td>{{.Name}}</td><td>{{.Worker}}</td><td>{{if .Skipped}}skipped{{else}}{{.ExitCode}}{{end}}</td><td>{{if not .Skipped}}{{human .Duration}}{{end}}</td>
<td>{{range .Outputs}}{{.Name}} = {{if .Sensitive}}********{{else}}{{.Value}}{{end}}<br>{{end}}</td>
<td>{{range .Artifacts}}{{.Name}} ({{.Size}} bytes, sha256 {{.SHA256}}) at {{.Path}}<br>{{end}}</td><td>{{.Error}}</td></tr>
{{end}}</table>{{end}}
<h2>Log</h2>
<pre id="log">{{.Log}}</pre>
{{if .Running}}<script>
const log = document.getElementById("log");
const es = new EventSource("/runs/{{.Run.ID}}/events");
es.onmessage = (e) => { log.textContent += JSON.parse(e.data); };
es.addEventListener("end", () => { es.close(); location.reload(); });
</script>{{end}}
</body></html>
`))
