package images

import (
	"bytes"
	"encoding/binary"
	"errors"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"testing"
)

// picture returns a w×h image whose four quadrants are red (top left),
// green (top right), blue (bottom left) and white (bottom right).
func picture(w, h int) *image.NRGBA {
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			c := color.NRGBA{A: 255}
			switch {
			case x < w/2 && y < h/2:
				c.R = 255
			case y < h/2:
				c.G = 255
			case x < w/2:
				c.B = 255
			default:
				c = color.NRGBA{255, 255, 255, 255}
			}
			img.SetNRGBA(x, y, c)
		}
	}
	return img
}

// encoded returns picture(w, h) in format f.
func encoded(t testing.TB, f string, w, h int) []byte {
	t.Helper()
	var buf bytes.Buffer
	var err error
	switch f {
	case "png":
		err = png.Encode(&buf, picture(w, h))
	case "jpeg":
		err = jpeg.Encode(&buf, picture(w, h), &jpeg.Options{Quality: 95})
	case "gif":
		err = gif.Encode(&buf, picture(w, h), nil)
	}
	if err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestResize(t *testing.T) {
	for _, tc := range []struct {
		name          string
		mime          string
		w, h          int // source
		width, height int
		mode          Mode
		wantW, wantH  int
		same          bool // data returned as it is
	}{
		{"png square box of a landscape fills", "image/png", 1280, 900, 100, 100, "", 100, 100, false},
		{"width only keeps aspect", "image/png", 1280, 900, 640, 0, "", 640, 450, false},
		{"height only keeps aspect", "image/jpeg", 1280, 900, 0, 90, "", 128, 90, false},
		{"default non-square box stretches", "image/png", 400, 300, 100, 50, "", 100, 50, false},
		{"fit landscape", "image/png", 1280, 900, 100, 100, ModeFit, 100, 70, false},
		{"fit portrait", "image/png", 300, 600, 100, 100, ModeFit, 50, 100, false},
		{"fill", "image/png", 1280, 900, 200, 50, ModeFill, 200, 50, false},
		{"never enlarges", "image/png", 80, 60, 100, 100, "", 80, 60, true},
		{"one side over resizes", "image/png", 80, 160, 100, 100, ModeFit, 50, 100, false},
		{"no box", "image/png", 80, 60, 0, 0, "", 80, 60, true},
		{"gif first frame", "image/gif", 64, 32, 32, 0, "", 32, 16, false},
		{"jpeg with params in type", "image/jpeg; charset=binary", 64, 64, 32, 32, "", 32, 32, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := format(tc.mime)
			data := encoded(t, f, tc.w, tc.h)
			out, w, h, err := Resize(data, tc.mime, tc.width, tc.height, tc.mode)
			if err != nil {
				t.Fatal(err)
			}
			if w != tc.wantW || h != tc.wantH {
				t.Fatalf("Resize says %d×%d, want %d×%d", w, h, tc.wantW, tc.wantH)
			}
			if same := bytes.Equal(out, data); same != tc.same {
				t.Fatalf("returned unchanged: %v, want %v", same, tc.same)
			}
			cfg, got, err := image.DecodeConfig(bytes.NewReader(out))
			if err != nil {
				t.Fatal(err)
			}
			if got != f || cfg.Width != tc.wantW || cfg.Height != tc.wantH {
				t.Fatalf("reply is a %d×%d %s, want %d×%d %s", cfg.Width, cfg.Height, got, tc.wantW, tc.wantH, f)
			}
		})
	}
}

func TestResizeNotImage(t *testing.T) {
	png := encoded(t, "png", 10, 10)
	for _, tc := range []struct {
		name string
		data []byte
		mime string
	}{
		{"text", []byte("hello"), "text/plain"},
		{"garbage said to be a png", []byte("\x89PNG garbage"), "image/png"},
		{"png said to be a jpeg", png, "image/jpeg"},
		{"bmp", []byte("BM...."), "image/bmp"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, _, _, err := Resize(tc.data, tc.mime, 5, 5, "")
			if !errors.Is(err, ErrNotImage) {
				t.Fatalf("err %v, want ErrNotImage", err)
			}
			if !bytes.Equal(out, tc.data) {
				t.Fatal("data changed")
			}
		})
	}
}

// withOrientation returns the JPEG jpg with an APP1 EXIF segment carrying
// orientation o (byte order bigEndian or not) inserted after its SOI.
func withOrientation(jpg []byte, o int, bigEndian bool) []byte {
	var bo binary.AppendByteOrder = binary.LittleEndian
	tiff := []byte("II")
	if bigEndian {
		bo, tiff = binary.BigEndian, []byte("MM")
	}
	tiff = bo.AppendUint16(tiff, 42)
	tiff = bo.AppendUint32(tiff, 8)
	tiff = bo.AppendUint16(tiff, 2)       // entries
	tiff = bo.AppendUint16(tiff, 0x010F)  // Make
	tiff = bo.AppendUint16(tiff, 2)       // ASCII
	tiff = bo.AppendUint32(tiff, 4)       // count
	tiff = append(tiff, 'w', 'e', 'e', 0) // inline value
	tiff = bo.AppendUint16(tiff, 0x0112)  // Orientation
	tiff = bo.AppendUint16(tiff, 3)       // SHORT
	tiff = bo.AppendUint32(tiff, 1)       // count
	tiff = append(bo.AppendUint16(tiff, uint16(o)), 0, 0)
	tiff = bo.AppendUint32(tiff, 0) // no next IFD
	seg := append([]byte("Exif\x00\x00"), tiff...)
	app1 := binary.BigEndian.AppendUint16([]byte{0xFF, 0xE1}, uint16(len(seg)+2))
	app1 = append(app1, seg...)
	out := append([]byte{}, jpg[:2]...)
	out = append(out, app1...)
	return append(out, jpg[2:]...)
}

func TestJPEGOrientation(t *testing.T) {
	jpg := encoded(t, "jpeg", 8, 8)
	for o := 0; o <= 9; o++ {
		for _, be := range []bool{false, true} {
			want := o
			if o < 1 || o > 8 {
				want = 1
			}
			if got := JPEGOrientation(withOrientation(jpg, o, be)); got != want {
				t.Errorf("orientation %d (big endian %v): read %d", o, be, got)
			}
		}
	}
	for _, tc := range []struct {
		name string
		data []byte
	}{
		{"no exif", jpg},
		{"empty", nil},
		{"png", encoded(t, "png", 4, 4)},
		{"truncated segment", withOrientation(jpg, 6, false)[:20]},
	} {
		if got := JPEGOrientation(tc.data); got != 1 {
			t.Errorf("%s: %d, want 1", tc.name, got)
		}
	}
}

// near reports whether c is within 40 of want in each channel (JPEG).
func near(c color.Color, want color.NRGBA) bool {
	n := color.NRGBAModel.Convert(c).(color.NRGBA)
	d := func(a, b uint8) bool { return int(a)-int(b) < 40 && int(b)-int(a) < 40 }
	return d(n.R, want.R) && d(n.G, want.G) && d(n.B, want.B)
}

func TestFixJPEGOrientation(t *testing.T) {
	red, green, blue, white := color.NRGBA{255, 0, 0, 255}, color.NRGBA{0, 255, 0, 255}, color.NRGBA{0, 0, 255, 255}, color.NRGBA{255, 255, 255, 255}
	// Stored 64×32: red green / blue white. Upright per orientation: the
	// dimensions and the colours of the top left and top right corners.
	for _, tc := range []struct {
		o                 int
		w, h              int
		topLeft, topRight color.NRGBA
	}{
		{1, 64, 32, red, green},
		{2, 64, 32, green, red},
		{3, 64, 32, white, blue},
		{4, 64, 32, blue, white},
		{5, 32, 64, red, blue},
		{6, 32, 64, blue, red},
		{7, 32, 64, white, green},
		{8, 32, 64, green, white},
	} {
		data := withOrientation(encoded(t, "jpeg", 64, 32), tc.o, tc.o%2 == 0)
		out, changed, err := FixJPEGOrientation(data)
		if err != nil {
			t.Fatalf("orientation %d: %v", tc.o, err)
		}
		if changed != (tc.o != 1) {
			t.Fatalf("orientation %d: changed %v", tc.o, changed)
		}
		img, err := jpeg.Decode(bytes.NewReader(out))
		if err != nil {
			t.Fatal(err)
		}
		b := img.Bounds()
		if b.Dx() != tc.w || b.Dy() != tc.h {
			t.Fatalf("orientation %d: %d×%d, want %d×%d", tc.o, b.Dx(), b.Dy(), tc.w, tc.h)
		}
		if tl, tr := img.At(2, 2), img.At(b.Dx()-3, 2); !near(tl, tc.topLeft) || !near(tr, tc.topRight) {
			t.Fatalf("orientation %d: corners %v %v, want %v %v", tc.o, tl, tr, tc.topLeft, tc.topRight)
		}
		if tc.o != 1 && JPEGOrientation(out) != 1 {
			t.Fatalf("orientation %d: the fixed JPEG still carries an orientation", tc.o)
		}
	}
}

// FuzzJPEGOrientation: the EXIF reader never panics and answers 1 to 8.
func FuzzJPEGOrientation(f *testing.F) {
	jpg := encoded(f, "jpeg", 4, 4)
	for o := 1; o <= 8; o++ {
		f.Add(withOrientation(jpg, o, o%2 == 0)[:200])
	}
	f.Add([]byte{0xFF, 0xD8, 0xFF, 0xE1, 0, 8, 'E', 'x', 'i', 'f', 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		if o := JPEGOrientation(data); o < 1 || o > 8 {
			t.Fatalf("orientation %d", o)
		}
	})
}

// FuzzResize: Resize never panics on any bytes said to be an image.
func FuzzResize(f *testing.F) {
	f.Add(encoded(f, "png", 6, 4), "image/png", 3, 0)
	f.Add(encoded(f, "gif", 6, 4), "image/gif", 2, 2)
	f.Add(encoded(f, "jpeg", 6, 4), "image/jpeg", 0, 2)
	f.Fuzz(func(t *testing.T, data []byte, mime string, w, h int) {
		if cfg, _, err := image.DecodeConfig(bytes.NewReader(data)); err == nil && cfg.Width*cfg.Height > 1<<20 {
			return // a bomb: the server bounds needles, the fuzzer need not
		}
		_, _, _, _ = Resize(data, mime, w%512, h%512, Mode(mime))
	})
}
