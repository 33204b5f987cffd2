package main

import "testing"

func TestListenAddr(t *testing.T) {
	for _, tc := range []struct {
		bind string
		port int
		want string
	}{
		{"0.0.0.0", 9333, ":9333"},
		{"", 8080, ":8080"},
		{"127.0.0.1", 8080, "127.0.0.1:8080"},
		{"10.0.0.7", 8888, "10.0.0.7:8888"},
		{"::1", 9333, "[::1]:9333"},
	} {
		if got := listenAddr(tc.bind, tc.port); got != tc.want {
			t.Errorf("listenAddr(%q, %d) = %q, want %q", tc.bind, tc.port, got, tc.want)
		}
	}
}
