package master

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"testing"
)

// FuzzPlainQuery checks that whatever parsePlainQuery accepts, it reads as
// net/url does.
func FuzzPlainQuery(f *testing.F) {
	for _, s := range []string{"", "collection=benchmark&replication=000", "count=3&count=4", "a&=b&&c=", "x=1;y=2",
		"a=%41", "a=b+c", "dataCenter=dc1&ttl=3m&collection=c_1-2.3", "1=1&2=2&3=3&4=4&5=5&6=6&7=7&8=8&9=9"} {
		f.Add(s)
	}
	keys := []string{"", "a", "count", "collection", "replication", "ttl", "dataCenter", "pretty", "x", "1", "9"}
	f.Fuzz(func(t *testing.T, raw string) {
		q, ok := parsePlainQuery(raw)
		if !ok {
			return
		}
		want, err := url.ParseQuery(raw)
		if err != nil {
			t.Fatalf("plain query %q that net/url refuses: %v", raw, err)
		}
		for _, k := range append(keys, raw) {
			if got := q.Get(k); got != want.Get(k) {
				t.Fatalf("%q: Get(%q) = %q, net/url %q", raw, k, got, want.Get(k))
			}
		}
		for k := range want {
			if got := q.Get(k); got != want.Get(k) {
				t.Fatalf("%q: Get(%q) = %q, net/url %q", raw, k, got, want.Get(k))
			}
		}
	})
}

// FuzzPlainFormBody checks plainFormBody against ParseForm: what it
// accepts, it reads as ParseForm does; what it declines, ParseForm still
// reads from the request as if the body had not been touched.
func FuzzPlainFormBody(f *testing.F) {
	for _, c := range []struct {
		body, ct, query string
		declared        int
	}{
		{"count=1&collection=benchmark&replication=000", "application/x-www-form-urlencoded", "", -1},
		{"count=1", "application/x-www-form-urlencoded", "", 20},                     // shorter than declared
		{"count=1&collection=benchmark", "application/x-www-form-urlencoded", "", 5}, // longer
		{"a=%41&b=c+d", "application/x-www-form-urlencoded", "", -1},
		{"count=2", "application/x-www-form-urlencoded; charset=utf-8", "", -1},
		{"count=2", "application/x-www-form-urlencoded", "count=3", -1},
		{"count=2", "text/plain", "", -1},
		{"", "application/x-www-form-urlencoded", "", -1},
	} {
		f.Add(c.body, c.ct, c.query, c.declared)
	}
	keys := []string{"", "a", "b", "count", "collection", "replication", "ttl", "dataCenter"}
	newRequest := func(body, ct, query string, declared int) *http.Request {
		r := httptest.NewRequest(http.MethodPost, "/dir/assign", strings.NewReader(body))
		r.URL.RawQuery = query
		r.Header.Set("Content-Type", ct)
		if declared >= 0 {
			// As a server's body: no more than the declared length.
			r.ContentLength = int64(declared)
			r.Body = io.NopCloser(io.LimitReader(strings.NewReader(body), int64(declared)))
		}
		return r
	}
	f.Fuzz(func(t *testing.T, body, ct, query string, declared int) {
		if _, err := url.ParseQuery(query); err != nil || strings.ContainsAny(ct, "\r\n") {
			return
		}
		want := newRequest(body, ct, query, declared)
		wantErr := want.ParseForm()
		r := newRequest(body, ct, query, declared)
		q, ok := plainFormBody(r)
		if ok {
			if wantErr != nil {
				t.Fatalf("accepted %q that ParseForm refuses: %v", body, wantErr)
			}
			for _, k := range keys {
				if got := q.Get(k); got != want.Form.Get(k) {
					t.Fatalf("%q: Get(%q) = %q, ParseForm %q", body, k, got, want.Form.Get(k))
				}
			}
			for k := range want.Form {
				if got := q.Get(k); got != want.Form.Get(k) {
					t.Fatalf("%q: Get(%q) = %q, ParseForm %q", body, k, got, want.Form.Get(k))
				}
			}
			return
		}
		err := r.ParseForm()
		if (err == nil) != (wantErr == nil) || !reflect.DeepEqual(r.Form, want.Form) {
			t.Fatalf("declined %q, then ParseForm = %v %v, on an untouched request %v %v", body, r.Form, err, want.Form, wantErr)
		}
	})
}
