package images

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/gif"
	"image/jpeg"
	"image/png"
	"strings"

	"golang.org/x/image/draw"
)

// Mode says how Resize fits an image into a width×height box.
type Mode string

// The modes of ?mode=. The zero Mode is weed-fs's default: a square box
// (width == height) of a non-square image is filled (ModeFill), any other
// box is stretched to exactly width×height; a box with one side 0 keeps
// the aspect ratio in every mode.
const (
	ModeDefault Mode = ""
	// ModeFit scales the image to fit inside the box, keeping its aspect
	// ratio: one side is the box's, the other no larger.
	ModeFit Mode = "fit"
	// ModeFill scales the image to cover the box, keeping its aspect
	// ratio, and crops the overflow around the centre: exactly width×height.
	ModeFill Mode = "fill"
)

// JPEGQuality is the quality of the JPEGs this package encodes.
const JPEGQuality = 90

// ErrNotImage is returned (wrapped) by Resize and FixJPEGOrientation for
// data that is not a JPEG, PNG or GIF of the mime type given, or does not
// decode; the caller serves or stores the data unchanged.
var ErrNotImage = errors.New("not a decodable jpeg, png or gif")

// format returns the image/... format ("jpeg", "png", "gif") of a mime
// type, or "" for any other.
func format(mimeType string) string {
	mt, _, _ := strings.Cut(mimeType, ";")
	switch strings.ToLower(strings.TrimSpace(mt)) {
	case "image/jpeg", "image/jpg", "image/pjpeg":
		return "jpeg"
	case "image/png":
		return "png"
	case "image/gif":
		return "gif"
	}
	return ""
}

// IsResizable reports whether Resize may change data of mimeType: a
// JPEG, PNG or GIF type.
func IsResizable(mimeType string) bool { return format(mimeType) != "" }

// Resize returns data, an image of mimeType, scaled into a width×height
// box by mode (0 for a side means "any", keeping the aspect ratio), in the
// same format, with its new dimensions. It never enlarges: an image no
// larger than the box in both given sides is returned as it is (data
// itself), as is everything when width and height are both 0 or negative.
// A GIF is resized by its first frame (the reply is a still GIF). Errors
// wrap ErrNotImage; data is not modified and the result does not alias it
// unless it is data itself.
func Resize(data []byte, mimeType string, width, height int, mode Mode) (out []byte, w, h int, err error) {
	width, height = max(width, 0), max(height, 0)
	f := format(mimeType)
	if f == "" {
		return data, 0, 0, fmt.Errorf("resize %q: %w", mimeType, ErrNotImage)
	}
	src, got, err := image.Decode(bytes.NewReader(data))
	if err != nil {
		return data, 0, 0, fmt.Errorf("resize: %w: %w", ErrNotImage, err)
	}
	if got != f {
		return data, 0, 0, fmt.Errorf("resize: a %s stored as %s: %w", got, mimeType, ErrNotImage)
	}
	sw, sh := src.Bounds().Dx(), src.Bounds().Dy()
	if width == 0 && height == 0 || !(width != 0 && sw > width || height != 0 && sh > height) {
		return data, sw, sh, nil
	}
	dw, dh, crop := Box(sw, sh, width, height, mode)
	dst := image.NewNRGBA(image.Rect(0, 0, dw, dh))
	draw.CatmullRom.Scale(dst, dst.Bounds(), src, crop.Add(src.Bounds().Min), draw.Src, nil)
	out, err = encode(dst, f)
	if err != nil {
		return data, 0, 0, err
	}
	return out, dw, dh, nil
}

// Box returns the dimensions Resize gives an sw×sh image for a
// width×height box in mode, and the part of the source (from 0,0) that is
// scaled into them (all of it but for a fill's crop).
func Box(sw, sh, width, height int, mode Mode) (dw, dh int, crop image.Rectangle) {
	crop = image.Rect(0, 0, sw, sh)
	switch {
	case width == 0:
		return max(1, sw*height/sh), height, crop
	case height == 0:
		return width, max(1, sh*width/sw), crop
	}
	if mode == ModeDefault && width == height && sw != sh {
		mode = ModeFill
	}
	switch mode {
	case ModeFit:
		// The side that limits: compare width/sw with height/sh.
		if width*sh <= height*sw {
			return width, max(1, sh*width/sw), crop
		}
		return max(1, sw*height/sh), height, crop
	case ModeFill:
		// Crop the source to the box's aspect ratio around its centre.
		cw, ch := sw, sh
		if width*sh > height*sw {
			ch = max(1, sw*height/width) // source too tall
		} else {
			cw = max(1, sh*width/height) // source too wide
		}
		x0, y0 := (sw-cw)/2, (sh-ch)/2
		return width, height, image.Rect(x0, y0, x0+cw, y0+ch)
	}
	return width, height, crop
}

// encode writes img in format f.
func encode(img image.Image, f string) ([]byte, error) {
	var buf bytes.Buffer
	var err error
	switch f {
	case "jpeg":
		err = jpeg.Encode(&buf, img, &jpeg.Options{Quality: JPEGQuality})
	case "png":
		err = png.Encode(&buf, img)
	case "gif":
		err = gif.Encode(&buf, img, nil)
	default:
		err = fmt.Errorf("encode %s: %w", f, ErrNotImage)
	}
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", f, err)
	}
	return buf.Bytes(), nil
}
