package master

import (
	"net/url"
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
