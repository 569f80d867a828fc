package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"html/template"
	"net/http"
	"sync"
	"time"
)

// The page is one self-contained document: inline style and script, no
// external asset, a data: favicon so browsers do not ask for /favicon.ico.
// The Content-Security-Policy allows exactly this style and this script, by
// hash, and fetches to this origin (the zone list, loaded on first focus of
// the zone field).

const pageStyle = `
:root{color-scheme:light dark;font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif}
body{margin:0;min-height:100vh;display:flex;align-items:center;justify-content:center}
main{text-align:center;padding:2rem 1rem;max-width:40rem}
h1{font-size:1rem;font-weight:600;letter-spacing:.08em;text-transform:uppercase;opacity:.7}
.clock{font-size:clamp(3rem,16vw,7rem);font-variant-numeric:tabular-nums;margin:.2em 0;font-weight:300}
.date{font-size:1.3rem;margin:0 0 .4rem}
.zone{opacity:.75;margin:0 0 2rem}
.err{color:#c0392b;font-weight:600}
form{display:flex;gap:.5rem;justify-content:center;align-items:center;flex-wrap:wrap}
input{font:inherit;padding:.4rem .6rem;min-width:16rem}
button{font:inherit;padding:.4rem 1rem}
nav{margin:1.2rem 0}
nav a{margin:0 .4rem}
footer{margin-top:2rem;font-size:.8rem;opacity:.6}
`

const pageScript = `
(function(){
var c=document.getElementById("clock"),d=document.getElementById("date");
if(c){
var base=+c.dataset.unixMillis,off=+c.dataset.offsetSeconds*1000,t0=performance.now();
var D=["Sunday","Monday","Tuesday","Wednesday","Thursday","Friday","Saturday"];
var M=["January","February","March","April","May","June","July","August","September","October","November","December"];
var p=function(n){return (n<10?"0":"")+n};
var tick=function(){
var now=base+(performance.now()-t0),t=new Date(now+off);
c.textContent=p(t.getUTCHours())+":"+p(t.getUTCMinutes())+":"+p(t.getUTCSeconds());
d.textContent=D[t.getUTCDay()]+", "+t.getUTCDate()+" "+M[t.getUTCMonth()]+" "+t.getUTCFullYear();
setTimeout(tick,1000-now%1000);
};
setTimeout(tick,1000-base%1000);
}
var i=document.getElementById("tz"),l=document.getElementById("zones"),asked=false;
i.addEventListener("focus",function(){
if(asked)return;asked=true;
fetch("/api/zones").then(function(r){return r.json()}).then(function(j){
var f=document.createDocumentFragment();
j.zones.forEach(function(z){var o=document.createElement("option");o.value=z;f.appendChild(o)});
l.appendChild(f);
}).catch(function(){asked=false});
});
})();
`

const pageTemplate = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1">
<title>{{if .Error}}Unknown time zone{{else}}{{.Clock}} in {{.Zone}}{{end}} · WhatsTheTime.com</title>
<link rel="icon" href="data:,">
<style>` + pageStyle + `</style>
</head>
<body>
<main>
<h1>What's the time?</h1>
{{if .Error}}<p class="err">{{.Error}}</p>
{{else}}<p id="clock" class="clock" data-unix-millis="{{.UnixMillis}}" data-offset-seconds="{{.OffsetSeconds}}">{{.Clock}}</p>
<p id="date" class="date">{{.Date}}</p>
<p class="zone">{{.Zone}} · {{.Abbreviation}} · UTC{{.Offset}}</p>
{{end}}<form method="get" action="/">
<label for="tz">Time zone</label>
<input id="tz" name="tz" list="zones" value="{{.Zone}}" autocomplete="off" spellcheck="false" placeholder="Area/City">
<datalist id="zones"></datalist>
<button type="submit">Show</button>
</form>
<nav>{{range .Popular}}<a href="/?tz={{.}}">{{.}}</a> {{end}}</nav>
<footer><a href="/api/time?tz={{.Zone}}">JSON</a>{{if .Instance}} · served by {{.Instance}}{{end}}{{if .AZ}} in {{.AZ}}{{end}}</footer>
</main>
<script>` + pageScript + `</script>
</body>
</html>
`

var popularZones = []string{"UTC", "America/Los_Angeles", "America/New_York", "Europe/London",
	"Europe/Berlin", "Asia/Kolkata", "Asia/Seoul", "Asia/Tokyo", "Australia/Sydney"}

type pageData struct {
	Zone, Error                       string
	Clock, Date, Abbreviation, Offset string
	UnixMillis                        int64
	OffsetSeconds                     int
	Instance, AZ                      string
	Popular                           []string
}

type page struct {
	tmpl *template.Template
	csp  []string
	pool sync.Pool
}

func newPage() *page {
	hash := func(s string) string {
		sum := sha256.Sum256([]byte(s))
		return "'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"
	}
	csp := "default-src 'none'; style-src " + hash(pageStyle) + "; script-src " + hash(pageScript) +
		"; connect-src 'self'; img-src data:; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
	return &page{
		tmpl: template.Must(template.New("page").Parse(pageTemplate)),
		csp:  []string{csp},
		pool: sync.Pool{New: func() any { return new(bytes.Buffer) }},
	}
}

// root serves the HTML page for ?tz= (UTC when absent).
func (a *app) root(w http.ResponseWriter, r *http.Request, sb *servedBy, arrival time.Time) int {
	if !readOnly(r) {
		return methodNotAllowed(w)
	}
	d := pageData{
		Zone:     queryValue(r.URL.RawQuery, "tz"),
		Instance: sb.id.InstanceID,
		AZ:       sb.id.AvailabilityZone,
		Popular:  popularZones,
	}
	if d.Zone == "" {
		d.Zone = "UTC"
	}
	code := http.StatusOK
	if loc, zone, ok := a.zones.Lookup(d.Zone); ok {
		t := a.clock(arrival).In(loc)
		abbr, off := t.Zone()
		d.Zone = zone
		d.Clock = t.Format("15:04:05")
		d.Date = t.Format("Monday, 2 January 2006")
		d.Abbreviation = abbr
		d.Offset = string(appendOffset(nil, off))
		d.UnixMillis = t.UnixMilli()
		d.OffsetSeconds = off
	} else {
		code = http.StatusBadRequest
		d.Error = unknownZoneMessage(d.Zone) + " — pick one from the list"
	}

	p := a.page
	buf := p.pool.Get().(*bytes.Buffer)
	buf.Reset()
	defer p.pool.Put(buf)
	if err := p.tmpl.Execute(buf, &d); err != nil {
		http.Error(w, "internal error", http.StatusInternalServerError)
		return http.StatusInternalServerError
	}
	h := headersOf(w)
	h.set("Content-Type", valHTML)
	h.set("Cache-Control", valNoStore)
	h.set("Content-Security-Policy", p.csp)
	h.set("Referrer-Policy", valNoReferrer)
	w.WriteHeader(code)
	w.Write(buf.Bytes())
	return code
}

var valNoReferrer = []string{"no-referrer"}
