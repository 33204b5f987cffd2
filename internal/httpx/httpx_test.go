package httpx

import "testing"

func TestErrorMessage(t *testing.T) {
	for body, want := range map[string]string{
		`{"error":"volume 3 not found"}` + "\n": "volume 3 not found",
		`{"error":""}`:                          `{"error":""}`,
		"  plain text\n":                        "plain text",
		`{"size":3}`:                            `{"size":3}`,
		"":                                      "",
	} {
		if got := ErrorMessage([]byte(body)); got != want {
			t.Errorf("ErrorMessage(%q) = %q, want %q", body, got, want)
		}
	}
}
