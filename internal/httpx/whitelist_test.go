package httpx

import (
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestNewWhiteListRejectsBadEntries(t *testing.T) {
	for _, e := range []string{"not-an-ip", "10.0.0.0/99", "10.0.0.1/", "300.1.1.1"} {
		if _, err := NewWhiteList([]string{e}); err == nil || !strings.Contains(err.Error(), e) {
			t.Errorf("NewWhiteList(%q) = %v, want an error naming the entry", e, err)
		}
	}
}

func TestWhiteListAllows(t *testing.T) {
	w, err := NewWhiteList([]string{" 10.1.2.3 ", "", "192.168.0.0/16", "::1"})
	if err != nil {
		t.Fatal(err)
	}
	if w.Empty() {
		t.Fatal("Empty() = true")
	}
	for ip, want := range map[string]bool{
		"10.1.2.3":    true,
		"10.1.2.4":    false,
		"192.168.7.9": true,
		"192.169.0.1": false,
		"::1":         true,
		"127.0.0.1":   false,
	} {
		if got := w.Allows(net.ParseIP(ip)); got != want {
			t.Errorf("Allows(%s) = %v, want %v", ip, got, want)
		}
	}
}

// serveFrom runs h on a request from remote and returns the recorder.
func serveFrom(h http.Handler, remote string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodPost, "/admin/x", nil)
	req.RemoteAddr = remote
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func TestWhiteListWrap(t *testing.T) {
	ok := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) })

	empty, err := NewWhiteList([]string{" ", ""})
	if err != nil {
		t.Fatal(err)
	}
	if !empty.Empty() {
		t.Fatal("a list of blanks is not empty")
	}
	if rec := serveFrom(empty.Wrap(ok), "1.2.3.4:5"); rec.Code != http.StatusNoContent {
		t.Errorf("empty list: %d, want 204", rec.Code)
	}

	w, err := NewWhiteList([]string{"10.1.2.3"})
	if err != nil {
		t.Fatal(err)
	}
	if rec := serveFrom(w.Wrap(ok), "10.1.2.3:4000"); rec.Code != http.StatusNoContent {
		t.Errorf("listed address: %d, want 204", rec.Code)
	}
	rec := serveFrom(w.Wrap(ok), "127.0.0.1:4000")
	if rec.Code != http.StatusForbidden || rec.Body.String() != `{"error":"access from 127.0.0.1 is not allowed"}`+"\n" {
		t.Errorf("unlisted address: %d %s", rec.Code, rec.Body)
	}
	if rec := serveFrom(w.Wrap(ok), "garbage"); rec.Code != http.StatusForbidden {
		t.Errorf("unparsable address: %d, want 403", rec.Code)
	}

	var asked []string
	trusted := func(_ *http.Request, ip net.IP) bool {
		asked = append(asked, ip.String())
		return ip.Equal(net.ParseIP("10.9.9.9"))
	}
	h := w.WrapTrusting(ok, trusted)
	if rec := serveFrom(h, "10.9.9.9:1"); rec.Code != http.StatusNoContent {
		t.Errorf("trusted address: %d, want 204", rec.Code)
	}
	if rec := serveFrom(h, "10.8.8.8:1"); rec.Code != http.StatusForbidden {
		t.Errorf("untrusted address: %d, want 403", rec.Code)
	}
	if rec := serveFrom(h, "10.1.2.3:1"); rec.Code != http.StatusNoContent {
		t.Errorf("listed address with a trust hook: %d, want 204", rec.Code)
	}
	if strings.Join(asked, ",") != "10.9.9.9,10.8.8.8" {
		t.Errorf("trusted was asked about %v, want only the refused addresses", asked)
	}
}
