package web

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"
	"time"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed assets
var assetFS embed.FS

// Templates is a set of pages, each parsed together with the shared layout
// (templates/layout.html of this package): a page file defines "content"
// (and may define "head" for extra script tags, "nav" for its
// navigation); the title comes from RenderTitle. Render executes a page into a buffer first, so a
// template error never sends half a page.
type Templates struct {
	pages map[string]*template.Template
}

// Funcs are the template functions every page has:
//
//	when T       a time as "2006-01-02 15:04:05 UTC" ("" for zero)
//	ago T        how long ago (or "in …" ahead) T is, in words
//	short S      the first 12 characters of S followed by "…" (revocation IDs)
//	join []S SEP strings.Join
func Funcs(now func() time.Time) template.FuncMap {
	return template.FuncMap{
		"when": func(t time.Time) string {
			if t.IsZero() {
				return ""
			}
			return t.UTC().Format("2006-01-02 15:04:05 UTC")
		},
		"ago": func(t time.Time) string {
			if t.IsZero() {
				return ""
			}
			return Ago(t, now())
		},
		"short": func(s string) string {
			if len(s) <= 12 {
				return s
			}
			return s[:12] + "…"
		},
		"join": strings.Join,
	}
}

// Ago says how far t is from now in words: "12s ago", "in 5m".
func Ago(t, now time.Time) string {
	d := now.Sub(t)
	suffix := " ago"
	if d < 0 {
		d, suffix = -d, ""
	}
	var s string
	switch {
	case d < time.Minute:
		s = fmt.Sprintf("%ds", int(d/time.Second))
	case d < time.Hour:
		s = fmt.Sprintf("%dm", int(d/time.Minute))
	case d < 48*time.Hour:
		s = fmt.Sprintf("%dh%02dm", int(d/time.Hour), int(d%time.Hour/time.Minute))
	default:
		s = fmt.Sprintf("%dd", int(d/(24*time.Hour)))
	}
	if suffix == "" {
		return "in " + s
	}
	return s + suffix
}

// ParseTemplates parses each page file of fsys (named by the patterns)
// with the shared layout and funcs (added to Funcs(time.Now)); a page is
// named by its file name without extension. Files named "_*.html" among
// the matches are partials: parsed into every page, not pages themselves.
func ParseTemplates(fsys fs.FS, funcs template.FuncMap, patterns ...string) (*Templates, error) {
	all := Funcs(time.Now)
	for k, v := range funcs {
		all[k] = v
	}
	base, err := template.New("layout.html").Funcs(all).ParseFS(templateFS, "templates/layout.html")
	if err != nil {
		return nil, fmt.Errorf("web: layout: %w", err)
	}
	var files, partials []string
	for _, p := range patterns {
		m, err := fs.Glob(fsys, p)
		if err != nil {
			return nil, fmt.Errorf("web: %w", err)
		}
		if len(m) == 0 {
			return nil, fmt.Errorf("web: no template matches %q", p)
		}
		for _, f := range m {
			if strings.HasPrefix(path.Base(f), "_") {
				partials = append(partials, f)
			} else {
				files = append(files, f)
			}
		}
	}
	t := &Templates{pages: make(map[string]*template.Template)}
	for _, f := range files {
		c, err := base.Clone()
		if err != nil {
			return nil, err
		}
		if len(partials) > 0 {
			if c, err = c.ParseFS(fsys, partials...); err != nil {
				return nil, fmt.Errorf("web: %w", err)
			}
		}
		if c, err = c.ParseFS(fsys, f); err != nil {
			return nil, fmt.Errorf("web: %w", err)
		}
		t.pages[strings.TrimSuffix(path.Base(f), path.Ext(f))] = c
	}
	return t, nil
}

// View is what the layout renders: the page's own data is Data.
type View struct {
	Title string
	// Page is the page's name (its template), for the navigation to mark.
	Page string
	*Request
	Data any
}

// Render writes page with data (View.Data) and status. A page that fails
// to execute is a 500 with a plain message, never a partial page.
func (t *Templates) Render(rw http.ResponseWriter, r *Request, status int, page string, data any) {
	t.RenderTitle(rw, r, status, page, "", data)
}

// RenderTitle is Render with a title for the layout's <title>.
func (t *Templates) RenderTitle(rw http.ResponseWriter, r *Request, status int, page, title string, data any) {
	tp, ok := t.pages[page]
	if !ok {
		Error(rw, r.Request, http.StatusInternalServerError, "internal error: no page "+page)
		return
	}
	var buf bytes.Buffer
	if err := tp.ExecuteTemplate(&buf, "layout", View{Title: title, Page: page, Request: r, Data: data}); err != nil {
		Error(rw, r.Request, http.StatusInternalServerError, "internal error: the page could not be drawn")
		return
	}
	rw.Header().Set("Content-Type", "text/html; charset=utf-8")
	rw.WriteHeader(status)
	_, _ = rw.Write(buf.Bytes())
}

// errorPage is a minimal page, escaped by html/template, for errors.
var errorPage = template.Must(template.New("error").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{.Status}}</title><meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body><main><h1>{{.Status}}</h1><p class="error" id="error">{{.Message}}</p><p><a href="javascript:history.back()">Back</a></p></main></body></html>
`))

// Error writes an error page (or, for a client that asks for JSON, the
// authority's {"error","error_description"}) with status.
func Error(rw http.ResponseWriter, r *http.Request, status int, message string) {
	rw.Header().Set("Cache-Control", "no-store")
	if strings.Contains(r.Header.Get("Accept"), "application/json") {
		rw.Header().Set("Content-Type", "application/json")
		rw.WriteHeader(status)
		code := strings.ToLower(strings.ReplaceAll(http.StatusText(status), " ", "_"))
		fmt.Fprintf(rw, `{"error":%q,"error_description":%q}`, code, message)
		return
	}
	rw.Header().Set("Content-Type", "text/html; charset=utf-8")
	rw.WriteHeader(status)
	_ = errorPage.Execute(rw, struct {
		Status  string
		Message string
	}{fmt.Sprintf("%d %s", status, http.StatusText(status)), message})
}

// AssetHandler serves the files of fsys under dir (embedded assets), with a
// content type from the extension and a day's caching.
func AssetHandler(fsys fs.FS, dir string) http.Handler {
	sub, err := fs.Sub(fsys, dir)
	if err != nil {
		panic(err) // dir is a constant of the caller's embed
	}
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		name := strings.TrimPrefix(path.Clean("/"+r.URL.Path), "/")
		b, err := fs.ReadFile(sub, name)
		if err != nil || name == "" {
			http.NotFound(rw, r)
			return
		}
		ct := mime.TypeByExtension(path.Ext(name))
		if ct == "" {
			ct = "application/octet-stream"
		}
		rw.Header().Set("Content-Type", ct)
		rw.Header().Set("Cache-Control", "public, max-age=86400")
		_, _ = rw.Write(b)
	})
}
