package testcluster

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestPollReportsTheLastState(t *testing.T) {
	n := 0
	err := Poll(120*time.Millisecond, func() error {
		n++
		return fmt.Errorf("state %d", n)
	})
	if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("state %d", n)) {
		t.Fatalf("Poll = %v, want the last state (state %d)", err, n)
	}
	if n < 2 {
		t.Fatalf("cond called %d times in 120ms, want a poll every 50ms", n)
	}
	calls := 0
	if err := Poll(time.Second, func() error {
		if calls++; calls < 3 {
			return errors.New("not yet")
		}
		return nil
	}); err != nil || calls != 3 {
		t.Fatalf("Poll = %v after %d calls, want nil after 3", err, calls)
	}
}

// fakeMaster answers /submit, /dir/assign and /dir/lookup like a master,
// and DELETE /3,01 with a 301 to /moved/3,01, which answers 202.
func fakeMaster(t *testing.T) string {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /submit", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("collection") == "full" {
			w.WriteHeader(http.StatusNotFound)
			fmt.Fprint(w, `{"error":"no writable volumes"}`)
			return
		}
		w.WriteHeader(http.StatusCreated)
		fmt.Fprint(w, `{"fid":"3,01","fileName":"a.txt","fileUrl":"v:1/3,01","size":5}`)
	})
	mux.HandleFunc("GET /dir/assign", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `{"fid":"3,01","url":"v:1","publicUrl":"v:1","count":`+r.URL.Query().Get("count")+`}`)
	})
	mux.HandleFunc("GET /dir/lookup", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("volumeId") != "3" {
			w.WriteHeader(http.StatusNotFound)
			fmt.Fprint(w, `{"volumeId":"9","error":"volumeId not found."}`)
			return
		}
		fmt.Fprint(w, `{"volumeId":"3","locations":[{"url":"b:2"},{"url":"a:1"}]}`)
	})
	mux.HandleFunc("DELETE /3,01", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "http://"+r.Host+"/moved/3,01", http.StatusMovedPermanently)
	})
	mux.HandleFunc("DELETE /moved/3,01", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusAccepted)
	})
	s := httptest.NewServer(mux)
	t.Cleanup(s.Close)
	return strings.TrimPrefix(s.URL, "http://")
}

func TestFileRequests(t *testing.T) {
	m := fakeMaster(t)
	s, err := Submit(m, "a.txt", []byte("hello"), "")
	if err != nil || s.Fid != "3,01" || s.Size != 5 || s.Reply.Status != http.StatusCreated {
		t.Errorf("Submit = %+v, %v", s, err)
	}
	if s, err := Submit(m, "a.txt", []byte("hello"), "collection=full"); err == nil || s.Reply.Status != http.StatusNotFound || s.Error != "no writable volumes" {
		t.Errorf("Submit to a full collection = %+v, %v; want an error with the reply", s, err)
	}
	if a, err := Assign(m, "count=4"); err != nil || a.Fid != "3,01" || a.Count != 4 {
		t.Errorf("Assign = %+v, %v", a, err)
	}
	l, err := Lookup(m, "3")
	if got := l.URLs(); err != nil || strings.Join(got, " ") != "a:1 b:2" {
		t.Errorf("Lookup(3) = %v, %v; want sorted a:1 b:2", got, err)
	}
	if l, err := Lookup(m, "9"); err != nil || l.Reply.Status != http.StatusNotFound || l.Error != "volumeId not found." {
		t.Errorf("Lookup(9) = %+v, %v; want a 404 result, no error", l, err)
	}
	if r, err := Delete(m, "3,01"); err != nil || r.Status != http.StatusAccepted {
		t.Errorf("Delete = %v, %v; want the redirect followed with a DELETE", r, err)
	}
}
