package filer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"syscall"
	"testing"

	"github.com/redis/go-redis/v9"
)

func TestRedisOptionsMode(t *testing.T) {
	cases := []struct {
		name string
		opts RedisOptions
		want string // the mode, or "" for ErrBadParam
	}{
		{"server", RedisOptions{Addr: "h:6379"}, "server"},
		{"sentinel", RedisOptions{SentinelAddrs: []string{"a:26379", "b:26379"}, MasterName: "m"}, "sentinel"},
		{"cluster", RedisOptions{ClusterAddrs: []string{"a:7000"}}, "cluster"},
		{"nothing", RedisOptions{}, ""},
		{"server and cluster", RedisOptions{Addr: "h:1", ClusterAddrs: []string{"a:7000"}}, ""},
		{"server and sentinels", RedisOptions{Addr: "h:1", SentinelAddrs: []string{"a:1"}, MasterName: "m"}, ""},
		{"sentinels without a master name", RedisOptions{SentinelAddrs: []string{"a:1"}}, ""},
		{"master name without sentinels", RedisOptions{Addr: "h:1", MasterName: "m"}, ""},
		{"cluster database", RedisOptions{ClusterAddrs: []string{"a:7000"}, DB: 2}, ""},
		{"negative wait", RedisOptions{Addr: "h:1", WaitReplicas: -1}, ""},
	}
	for _, c := range cases {
		got, err := c.opts.mode()
		switch {
		case c.want == "" && !errors.Is(err, ErrBadParam):
			t.Errorf("%s: mode() = %q, %v; want ErrBadParam", c.name, got, err)
		case c.want != "" && (err != nil || got != c.want):
			t.Errorf("%s: mode() = %q, %v; want %q", c.name, got, err, c.want)
		}
	}
	if _, err := OpenRedisStore(context.Background(), RedisOptions{}); !errors.Is(err, ErrBadParam) {
		t.Errorf("OpenRedisStore with no deployment = %v, want ErrBadParam", err)
	}
}

func TestFilerOptionsRedis(t *testing.T) {
	cases := []struct {
		name string
		opts FilerOptions
		ok   bool
		want RedisOptions
	}{
		{"bolt", FilerOptions{Dir: "/tmp/x"}, false, RedisOptions{}},
		{"server, default wait", FilerOptions{RedisServer: "h:6379", RedisWaitReplicas: -1}, true,
			RedisOptions{Addr: "h:6379", KeyPrefix: redisKeyPrefix}},
		{"sentinels, default wait", FilerOptions{RedisSentinels: " a:1, b:2,,c:3 ", RedisMasterName: "m", RedisWaitReplicas: -1}, true,
			RedisOptions{SentinelAddrs: []string{"a:1", "b:2", "c:3"}, MasterName: "m", KeyPrefix: redisKeyPrefix, WaitReplicas: DefaultSentinelWaitReplicas}},
		{"sentinels, no wait", FilerOptions{RedisSentinels: "a:1", RedisMasterName: "m", RedisWaitReplicas: 0}, true,
			RedisOptions{SentinelAddrs: []string{"a:1"}, MasterName: "m", KeyPrefix: redisKeyPrefix}},
		{"cluster, default wait", FilerOptions{RedisCluster: "a:7000,b:7001", RedisWaitReplicas: -1}, true,
			RedisOptions{ClusterAddrs: []string{"a:7000", "b:7001"}, KeyPrefix: redisKeyPrefix}},
		{"cluster, two replicas", FilerOptions{RedisCluster: "a:7000", RedisWaitReplicas: 2}, true,
			RedisOptions{ClusterAddrs: []string{"a:7000"}, KeyPrefix: redisKeyPrefix, WaitReplicas: 2}},
	}
	for _, c := range cases {
		got, ok := c.opts.redisOptions()
		if ok != c.ok || got.Addr != c.want.Addr || !slices.Equal(got.SentinelAddrs, c.want.SentinelAddrs) ||
			got.MasterName != c.want.MasterName || !slices.Equal(got.ClusterAddrs, c.want.ClusterAddrs) ||
			got.KeyPrefix != c.want.KeyPrefix || got.WaitReplicas != c.want.WaitReplicas {
			t.Errorf("%s: redisOptions() = %+v, %v; want %+v, %v", c.name, got, ok, c.want, c.ok)
		}
	}
}

func TestRedisUnavailable(t *testing.T) {
	cases := []struct {
		err  error
		want bool
	}{
		{&net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}, true},
		{fmt.Errorf("wrapped: %w", syscall.ECONNRESET), true},
		{io.EOF, true},
		{redis.ErrPoolTimeout, true},
		{errors.New("LOADING Redis is loading the dataset in memory"), true},
		{errors.New("READONLY You can't write against a read only replica."), true},
		{errors.New("CLUSTERDOWN The cluster is down"), true},
		{errors.New("MASTERDOWN Link with MASTER is down"), true},
		{errors.New("redis: all sentinels specified in configuration are unreachable"), true},
		{redis.ErrClosed, false},
		{redis.Nil, false},
		{redis.TxFailedErr, false},
		{ErrNotFound, false},
		{errors.New("WRONGTYPE Operation against a key holding the wrong kind of value"), false},
		{errors.New("ERR unknown command"), false},
	}
	for _, c := range cases {
		if got := redisUnavailable(c.err); got != c.want {
			t.Errorf("redisUnavailable(%v) = %v, want %v", c.err, got, c.want)
		}
	}
}
