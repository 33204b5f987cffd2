package volumeserver

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"net/http"
	"testing"

	"github.com/weedfs/weed/client"
)

// testImage returns a w×h image, red on the left half and blue on the
// right, encoded as f ("png" or "jpeg").
func testImage(t testing.TB, f string, w, h int) []byte {
	t.Helper()
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			c := color.NRGBA{R: 255, A: 255}
			if x >= w/2 {
				c = color.NRGBA{B: 255, A: 255}
			}
			img.SetNRGBA(x, y, c)
		}
	}
	var buf bytes.Buffer
	var err error
	if f == "png" {
		err = png.Encode(&buf, img)
	} else {
		err = jpeg.Encode(&buf, img, &jpeg.Options{Quality: 95})
	}
	if err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// decodedSize returns the format and dimensions of an encoded image.
func decodedSize(t testing.TB, b []byte) (string, int, int) {
	t.Helper()
	cfg, f, err := image.DecodeConfig(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("reply is no image (%d bytes): %v", len(b), err)
	}
	return f, cfg.Width, cfg.Height
}

func TestReadResized(t *testing.T) {
	m := newFakeMaster(t)
	s := startServer(t, []string{m.addr()})
	s.addVolume(t, 1, "")
	photo := testImage(t, "png", 1280, 900)
	uploadFile(t, s.url, "1,0211111111", "photo.png", "image/png", photo)
	uploadFile(t, s.url, "1,0322222222", "photo.jpg", "image/jpeg", testImage(t, "jpeg", 300, 200))
	uploadFile(t, s.url, "1,0433333333", "notes.txt", "text/plain", []byte("not an image"))
	garbage := []byte("\x89PNG\r\n\x1a\n and then nothing")
	uploadFile(t, s.url, "1,0544444444", "broken.png", "image/png", garbage)
	plain := do(t, http.MethodGet, s.url+"/1,0211111111", nil, nil)

	for _, tc := range []struct {
		name, path   string
		format       string
		wantW, wantH int
	}{
		{"square box", "/1,0211111111?width=100&height=100", "png", 100, 100},
		{"width only", "/1,0211111111?width=640", "png", 640, 450},
		{"height only", "/1,0211111111?height=90", "png", 128, 90},
		{"fit", "/1,0211111111?width=100&height=100&mode=fit", "png", 100, 70},
		{"fill", "/1,0211111111?width=200&height=50&mode=fill", "png", 200, 50},
		{"with extension", "/1,0211111111.png?width=64", "png", 64, 45},
		{"larger than the image", "/1,0211111111?width=2000&height=2000", "png", 1280, 900},
		{"jpeg", "/1,0322222222?width=150", "jpeg", 150, 100},
		{"not a number", "/1,0211111111?width=big", "png", 1280, 900},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := do(t, http.MethodGet, s.url+tc.path, nil, nil)
			if r.status != http.StatusOK {
				t.Fatalf("%d %s", r.status, r.body)
			}
			f, w, h := decodedSize(t, r.body)
			if f != tc.format || w != tc.wantW || h != tc.wantH {
				t.Fatalf("a %d×%d %s, want %d×%d %s", w, h, f, tc.wantW, tc.wantH, tc.format)
			}
			if r.header.Get("Content-Length") != fmt.Sprint(len(r.body)) || r.header.Get("Content-Type") != "image/"+tc.format {
				t.Fatalf("headers %v for %d bytes", r.header, len(r.body))
			}
			resized := w != 1280
			if resized == (r.header.Get("Etag") == plain.header.Get("Etag")) && tc.format == "png" {
				t.Fatalf("etag %s, the stored one's %s", r.header.Get("Etag"), plain.header.Get("Etag"))
			}
			if !resized && tc.format == "png" && !bytes.Equal(r.body, photo) {
				t.Fatal("an image no larger than the box is not the stored bytes")
			}
			head := do(t, http.MethodHead, s.url+tc.path, nil, nil)
			if head.header.Get("Content-Length") != r.header.Get("Content-Length") {
				t.Fatalf("HEAD says %s bytes", head.header.Get("Content-Length"))
			}
			again := do(t, http.MethodGet, s.url+tc.path, nil, map[string]string{"If-None-Match": r.header.Get("Etag")})
			if again.status != http.StatusNotModified {
				t.Fatalf("If-None-Match of the reply's etag: %d", again.status)
			}
		})
	}
	r := do(t, http.MethodGet, s.url+"/1,0211111111?width=100&height=100", nil, map[string]string{"Range": "bytes=0-9"})
	if r.status != http.StatusPartialContent || len(r.body) != 10 {
		t.Errorf("range of a resized image: %d, %d bytes", r.status, len(r.body))
	}
	for _, tc := range []struct{ fid, want string }{
		{"1,0433333333", "not an image"},
		{"1,0544444444", string(garbage)},
	} {
		r := do(t, http.MethodGet, s.url+"/"+tc.fid+"?width=10&height=10", nil, nil)
		if r.status != http.StatusOK || string(r.body) != tc.want {
			t.Errorf("%s resized: %d %q, want it unchanged", tc.fid, r.status, r.body)
		}
	}
}

// jpegWithOrientation returns jpg with an APP1 EXIF segment saying
// orientation o (little-endian TIFF) after its SOI marker.
func jpegWithOrientation(jpg []byte, o uint16) []byte {
	le := binary.LittleEndian
	tiff := le.AppendUint16([]byte("II"), 42)
	tiff = le.AppendUint32(tiff, 8)
	tiff = le.AppendUint16(tiff, 1)
	tiff = le.AppendUint16(tiff, 0x0112)
	tiff = le.AppendUint16(tiff, 3)
	tiff = le.AppendUint32(tiff, 1)
	tiff = append(le.AppendUint16(tiff, o), 0, 0)
	tiff = le.AppendUint32(tiff, 0)
	seg := append([]byte("Exif\x00\x00"), tiff...)
	out := binary.BigEndian.AppendUint16([]byte{0xFF, 0xD8, 0xFF, 0xE1}, uint16(len(seg)+2))
	out = append(out, seg...)
	return append(out, jpg[2:]...)
}

func TestUploadFixesOrientation(t *testing.T) {
	m := newFakeMaster(t)
	fixing := startServer(t, []string{m.addr()}, func(o *ServerOptions) { o.FixJPEGOrientation = true })
	plain := startServer(t, []string{m.addr()})
	fixing.addVolume(t, 1, "")
	plain.addVolume(t, 1, "")
	sideways := jpegWithOrientation(testImage(t, "jpeg", 64, 32), 6)
	for _, tc := range []struct {
		name         string
		srv          *testServer
		filename     string
		mime         string
		wantW, wantH int
	}{
		{"fixed by type", fixing, "x", "image/jpeg", 32, 64},
		{"fixed by name", fixing, "photo.JPG", "", 32, 64},
		{"option off", plain, "photo.jpg", "image/jpeg", 64, 32},
		{"not a jpeg by name or type", fixing, "photo.bin", "application/x-thing", 64, 32},
	} {
		t.Run(tc.name, func(t *testing.T) {
			uploadFile(t, tc.srv.url, "1,0211111111", tc.filename, tc.mime, sideways)
			r := do(t, http.MethodGet, tc.srv.url+"/1,0211111111", nil, nil)
			f, w, h := decodedSize(t, r.body)
			if f != "jpeg" || w != tc.wantW || h != tc.wantH {
				t.Fatalf("stored a %d×%d %s, want %d×%d", w, h, f, tc.wantW, tc.wantH)
			}
			if tc.wantW == 32 {
				// Orientation 6 turns clockwise: the left (red) half is on top.
				img, _ := jpeg.Decode(bytes.NewReader(r.body))
				if c := color.NRGBAModel.Convert(img.At(16, 5)).(color.NRGBA); c.R < 200 || c.B > 60 {
					t.Fatalf("top of the upright image is %v, want red", c)
				}
			}
		})
	}
}

func TestNotFidPaths(t *testing.T) {
	m := newFakeMaster(t)
	s := startServer(t, []string{m.addr()})
	s.addVolume(t, 1, "")
	uploadFile(t, s.url, "1,0211111111", "a.txt", "text/plain", []byte("a"))
	for _, tc := range []struct {
		method, path string
		want         int
	}{
		{http.MethodGet, "/metrics", http.StatusNotFound},
		{http.MethodGet, "/healthz", http.StatusNotFound},
		{http.MethodGet, "/favicon.ico", http.StatusNotFound},
		{http.MethodPost, "/metrics", http.StatusBadRequest}, // a write names a fid: a bad one
		{http.MethodDelete, "/favicon.ico", http.StatusBadRequest},
		{http.MethodGet, "/x,0211111111", http.StatusBadRequest}, // a comma: a (bad) fid
		{http.MethodGet, "/x/01637037d6", http.StatusNotFound},
		{http.MethodGet, "/1,0211111111", http.StatusOK},
		{http.MethodGet, "/1,0211111112", http.StatusNotFound}, // wrong cookie, as before
		{http.MethodGet, "/1,zz", http.StatusBadRequest},       // fid-shaped, malformed: as before
		{http.MethodGet, "/1/zz", http.StatusBadRequest},
	} {
		if r := do(t, tc.method, s.url+tc.path, nil, nil); r.status != tc.want {
			t.Errorf("%s %s: %d %s, want %d", tc.method, tc.path, r.status, r.body, tc.want)
		}
	}
}

func TestReadModes(t *testing.T) {
	m := newFakeMaster(t)
	holder := startServer(t, []string{m.addr()})
	holder.addVolume(t, 1, "")
	m.setLocations(1, holder.addr)
	data := bytes.Repeat([]byte("0123456789"), 100)
	uploadFile(t, holder.url, "1,0211111111", "digits.txt", "application/x-digits", data)
	proxy := startServer(t, []string{m.addr()}, func(o *ServerOptions) { o.ReadMode = ReadModeProxy })
	local := startServer(t, []string{m.addr()}, func(o *ServerOptions) { o.ReadMode = ReadModeLocal })
	off := false
	alias := startServer(t, []string{m.addr()}, func(o *ServerOptions) { o.ReadRedirect = &off })
	redirect := startServer(t, []string{m.addr()})

	r := do(t, http.MethodGet, proxy.url+"/1,0211111111", nil, nil)
	if r.status != http.StatusOK || !bytes.Equal(r.body, data) || r.header.Get("Content-Type") != "application/x-digits" {
		t.Fatalf("proxied read: %d %q %v", r.status, r.body, r.header)
	}
	etag := r.header.Get("Etag")
	for _, tc := range []struct {
		name   string
		srv    *testServer
		header map[string]string
		want   int
		body   string
	}{
		{"proxy range", proxy, map[string]string{"Range": "bytes=5-14"}, http.StatusPartialContent, "5678901234"},
		{"proxy conditional", proxy, map[string]string{"If-None-Match": etag}, http.StatusNotModified, ""},
		{"local", local, nil, http.StatusNotFound, ""},
		{"read.redirect=false is local", alias, nil, http.StatusNotFound, ""},
		{"redirect", redirect, nil, http.StatusMovedPermanently, ""},
	} {
		r := do(t, http.MethodGet, tc.srv.url+"/1,0211111111", nil, tc.header)
		if r.status != tc.want || tc.body != "" && string(r.body) != tc.body {
			t.Errorf("%s: %d %q, want %d %q", tc.name, r.status, r.body, tc.want, tc.body)
		}
	}
	if r := do(t, http.MethodGet, proxy.url+"/2,0211111111", nil, nil); r.status != http.StatusNotFound {
		t.Errorf("proxy of an unknown volume: %d", r.status)
	}
	if _, err := readMode(ServerOptions{ReadMode: "mirror"}); err == nil {
		t.Error("read mode mirror accepted")
	}
}

func TestDeleteManifestDeletesChunks(t *testing.T) {
	m := newFakeMaster(t)
	a := startServer(t, []string{m.addr()})
	b := startServer(t, []string{m.addr()})
	a.addVolume(t, 1, "")
	b.addVolume(t, 2, "")
	m.setLocations(1, a.addr)
	m.setLocations(2, b.addr)
	chunks := []struct {
		srv *testServer
		fid string
	}{{a, "1,0211111111"}, {b, "2,0322222222"}, {b, "2,0433333333"}}
	manifest := client.ChunkManifest{Name: "big.bin", Size: 300}
	for i, c := range chunks {
		uploadFile(t, c.srv.url, c.fid, "chunk", "", bytes.Repeat([]byte{byte('a' + i)}, 100))
		manifest.Chunks = append(manifest.Chunks, client.ChunkInfo{Fid: c.fid, Offset: int64(i) * 100, Size: 100})
	}
	mj, _ := json.Marshal(manifest)
	if r := do(t, http.MethodPost, a.url+"/1,0555555555?cm=true", bytes.NewReader(mj), map[string]string{"Content-Type": "application/json"}); r.status != http.StatusCreated {
		t.Fatalf("manifest upload: %d %s", r.status, r.body)
	}
	// A chunk whose volume no server answers for: the delete fails, and
	// leaves the manifest to be retried.
	m.setLocations(2, "127.0.0.1:1")
	if r := do(t, http.MethodDelete, a.url+"/1,0555555555", nil, nil); r.status != http.StatusInternalServerError {
		t.Fatalf("delete with an unreachable chunk: %d %s", r.status, r.body)
	}
	if r := do(t, http.MethodGet, a.url+"/1,0555555555?cm=false", nil, nil); r.status != http.StatusOK {
		t.Fatalf("manifest after a failed delete: %d", r.status)
	}
	m.setLocations(2, b.addr)
	b.chunkClient.Invalidate(2)
	a.chunkClient.Invalidate(2)
	if r := do(t, http.MethodDelete, a.url+"/1,0555555555", nil, nil); r.status != http.StatusAccepted {
		t.Fatalf("delete of the manifest: %d %s", r.status, r.body)
	}
	for _, c := range append(chunks, struct {
		srv *testServer
		fid string
	}{a, "1,0555555555"}) {
		if r := do(t, http.MethodGet, c.srv.url+"/"+c.fid, nil, nil); r.status != http.StatusNotFound {
			t.Errorf("%s after the manifest's delete: %d", c.fid, r.status)
		}
	}
}
