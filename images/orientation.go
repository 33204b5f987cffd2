package images

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"image"
	"image/draw"
	"image/jpeg"
)

// JPEGOrientation returns the EXIF orientation (1 to 8) of a JPEG: the
// Orientation tag (0x0112) of IFD0 in its first APP1 "Exif" segment. It
// returns 1 (as stored) when data is not a JPEG, has no EXIF segment, no
// such tag or a value out of range. It reads the segments before the image
// data only and never panics on malformed input.
func JPEGOrientation(data []byte) int {
	if len(data) < 4 || data[0] != 0xFF || data[1] != 0xD8 {
		return 1
	}
	for i := 2; i+4 <= len(data); {
		if data[i] != 0xFF {
			return 1
		}
		marker := data[i+1]
		switch {
		case marker == 0xFF: // fill byte
			i++
			continue
		case marker == 0xD8 || marker >= 0xD0 && marker <= 0xD7 || marker == 0x01:
			i += 2 // no length
			continue
		case marker == 0xDA || marker == 0xD9: // start of scan, end of image
			return 1
		}
		n := int(binary.BigEndian.Uint16(data[i+2:]))
		if n < 2 || i+2+n > len(data) {
			return 1
		}
		seg := data[i+4 : i+2+n]
		if marker == 0xE1 && bytes.HasPrefix(seg, []byte("Exif\x00\x00")) {
			return exifOrientation(seg[6:])
		}
		i += 2 + n
	}
	return 1
}

// exifOrientation reads the Orientation tag of IFD0 in tiff, a TIFF
// header and what follows it.
func exifOrientation(tiff []byte) int {
	if len(tiff) < 8 {
		return 1
	}
	var bo binary.ByteOrder
	switch string(tiff[:2]) {
	case "II":
		bo = binary.LittleEndian
	case "MM":
		bo = binary.BigEndian
	default:
		return 1
	}
	if bo.Uint16(tiff[2:]) != 42 {
		return 1
	}
	ifd := uint64(bo.Uint32(tiff[4:]))
	if ifd+2 > uint64(len(tiff)) {
		return 1
	}
	count := uint64(bo.Uint16(tiff[ifd:]))
	for e := ifd + 2; e+12 <= uint64(len(tiff)) && count > 0; e, count = e+12, count-1 {
		if bo.Uint16(tiff[e:]) != 0x0112 {
			continue
		}
		// Type SHORT (3), count 1: the value sits in the entry's first
		// two value bytes.
		if bo.Uint16(tiff[e+2:]) != 3 || bo.Uint32(tiff[e+4:]) != 1 {
			return 1
		}
		if o := int(bo.Uint16(tiff[e+8:])); o >= 1 && o <= 8 {
			return o
		}
		return 1
	}
	return 1
}

// FixJPEGOrientation returns the JPEG data turned upright by its EXIF
// orientation (JPEGOrientation), re-encoded at JPEGQuality without the EXIF
// segment, as weed-fs's -images.fix.orientation. Data already upright
// (orientation 1, or no EXIF) is returned as it is, with changed false.
// Errors wrap ErrNotImage (data then returned unchanged).
func FixJPEGOrientation(data []byte) (out []byte, changed bool, err error) {
	o := JPEGOrientation(data)
	if o == 1 {
		return data, false, nil
	}
	src, err := jpeg.Decode(bytes.NewReader(data))
	if err != nil {
		return data, false, fmt.Errorf("fix orientation: %w: %w", ErrNotImage, err)
	}
	out, err = encode(Orient(src, o), "jpeg")
	if err != nil {
		return data, false, err
	}
	return out, true, nil
}

// Orient returns img transformed so that an image stored with EXIF
// orientation o (1 to 8) is upright: 2 mirrors, 3 turns 180°, 4 flips, 5
// transposes, 6 turns 90° clockwise, 7 transverses, 8 turns 90°
// counter-clockwise. Orientation 1 or any other value returns img.
func Orient(img image.Image, o int) image.Image {
	if o < 2 || o > 8 {
		return img
	}
	b := img.Bounds()
	src := image.NewNRGBA(image.Rect(0, 0, b.Dx(), b.Dy()))
	draw.Draw(src, src.Bounds(), img, b.Min, draw.Src)
	w, h := b.Dx(), b.Dy()
	dw, dh := w, h
	if o >= 5 {
		dw, dh = h, w
	}
	dst := image.NewNRGBA(image.Rect(0, 0, dw, dh))
	for y := 0; y < dh; y++ {
		for x := 0; x < dw; x++ {
			var sx, sy int
			switch o {
			case 2:
				sx, sy = w-1-x, y
			case 3:
				sx, sy = w-1-x, h-1-y
			case 4:
				sx, sy = x, h-1-y
			case 5:
				sx, sy = y, x
			case 6:
				sx, sy = y, h-1-x
			case 7:
				sx, sy = w-1-y, h-1-x
			case 8:
				sx, sy = w-1-y, x
			}
			copy(dst.Pix[dst.PixOffset(x, y):][:4], src.Pix[src.PixOffset(sx, sy):][:4])
		}
	}
	return dst
}
