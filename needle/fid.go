package needle

import (
	"fmt"
	"strconv"
	"strings"
)

// FileID names one needle in the cluster: "<volume>,<key hex><cookie 8 hex>",
// for example "6,01fc4a422c" is volume 6, key 0x01, cookie 0xfc4a422c.
type FileID struct {
	Volume VolumeID
	Key    Key
	Cookie Cookie
}

// maxFileIDLen bounds the input a parser looks at: "4294967295," plus 16 key
// digits, 8 cookie digits and a "_N" suffix fits well within it.
const maxFileIDLen = 64

// String formats the fid: the key as hex with leading zero bytes dropped,
// followed by the cookie as exactly 8 hex digits.
func (f FileID) String() string {
	return f.Volume.String() + "," + FormatKeyCookie(f.Key, f.Cookie)
}

// FormatKeyCookie formats the part of a fid after the comma.
func FormatKeyCookie(k Key, c Cookie) string {
	var b [12]byte
	for i := 0; i < 8; i++ {
		b[i] = byte(uint64(k) >> (56 - 8*i))
	}
	b[8], b[9], b[10], b[11] = byte(c>>24), byte(c>>16), byte(c>>8), byte(c)
	nz := 0
	for nz < 8 && b[nz] == 0 {
		nz++
	}
	const hexdigits = "0123456789abcdef"
	out := make([]byte, 0, 24)
	for _, x := range b[nz:] {
		out = append(out, hexdigits[x>>4], hexdigits[x&0xf])
	}
	return string(out)
}

// ParseFileID parses "<vid>,<key><cookie>[_N]". The optional "_N" suffix
// (decimal) names key+N, as handed out by an assign with count > N.
func ParseFileID(s string) (FileID, error) {
	if len(s) > maxFileIDLen {
		return FileID{}, fmt.Errorf("%w: too long", ErrBadFileID)
	}
	comma := strings.IndexByte(s, ',')
	if comma < 0 {
		return FileID{}, fmt.Errorf("%w: %q has no comma", ErrBadFileID, s)
	}
	vid, err := ParseVolumeID(s[:comma])
	if err != nil {
		return FileID{}, fmt.Errorf("%w: volume id %q", ErrBadFileID, s[:comma])
	}
	k, c, err := ParseKeyCookie(s[comma+1:])
	if err != nil {
		return FileID{}, err
	}
	return FileID{Volume: vid, Key: k, Cookie: c}, nil
}

// ParseKeyCookie parses the part of a fid after the comma: 1 to 16 hex
// digits of key (none for key 0), 8 hex digits of cookie, then an optional
// "_N" delta added to the key.
func ParseKeyCookie(s string) (Key, Cookie, error) {
	if len(s) > maxFileIDLen {
		return 0, 0, fmt.Errorf("%w: too long", ErrBadFileID)
	}
	var delta uint64
	if u := strings.IndexByte(s, '_'); u >= 0 {
		d, err := strconv.ParseUint(s[u+1:], 10, 64)
		if err != nil || s[u+1:] == "" || s[u+1] == '+' {
			return 0, 0, fmt.Errorf("%w: bad suffix in %q", ErrBadFileID, s)
		}
		delta = d
		s = s[:u]
	}
	if len(s) < 8 || len(s) > 24 {
		return 0, 0, fmt.Errorf("%w: key and cookie %q must be 8 to 24 hex digits", ErrBadFileID, s)
	}
	for i := 0; i < len(s); i++ {
		if !isHex(s[i]) {
			return 0, 0, fmt.Errorf("%w: %q is not hex", ErrBadFileID, s)
		}
	}
	split := len(s) - 8
	var key uint64
	if split > 0 {
		key, _ = strconv.ParseUint(s[:split], 16, 64) // validated above
	}
	cookie, _ := strconv.ParseUint(s[split:], 16, 32)
	if key+delta < key {
		return 0, 0, fmt.Errorf("%w: key overflow in %q", ErrBadFileID, s)
	}
	return Key(key + delta), Cookie(cookie), nil
}

func isHex(c byte) bool {
	return ('0' <= c && c <= '9') || ('a' <= c && c <= 'f') || ('A' <= c && c <= 'F')
}

// URLPath is a volume-server request path decoded into a fid.
type URLPath struct {
	FileID FileID
	// Ext is the extension given in "/<vid>,<fid>.<ext>" including the dot, or "".
	Ext string
	// Filename is the name given in "/<vid>/<fid>/<filename>", or "".
	Filename string
}

// ParseURLPath decodes the three path forms a volume server accepts:
//
//	/<vid>,<key><cookie>[_N][.ext]
//	/<vid>/<key><cookie>[_N][.ext]
//	/<vid>/<key><cookie>[_N]/<filename>
//
// The leading slash is optional. Anything else is ErrBadFileID.
func ParseURLPath(p string) (URLPath, error) {
	p = strings.TrimPrefix(p, "/")
	if len(p) > 1024 {
		return URLPath{}, fmt.Errorf("%w: path too long", ErrBadFileID)
	}
	var out URLPath
	var vidPart, kcPart string
	if comma := strings.IndexByte(p, ','); comma >= 0 && !strings.Contains(p[:comma], "/") {
		vidPart, kcPart = p[:comma], p[comma+1:]
		if strings.Contains(kcPart, "/") {
			return URLPath{}, fmt.Errorf("%w: %q", ErrBadFileID, p)
		}
	} else {
		parts := strings.SplitN(p, "/", 3)
		if len(parts) < 2 {
			return URLPath{}, fmt.Errorf("%w: %q", ErrBadFileID, p)
		}
		vidPart, kcPart = parts[0], parts[1]
		if len(parts) == 3 {
			if parts[2] == "" || strings.Contains(parts[2], "/") {
				return URLPath{}, fmt.Errorf("%w: %q", ErrBadFileID, p)
			}
			out.Filename = parts[2]
		}
	}
	if dot := strings.LastIndexByte(kcPart, '.'); dot >= 0 {
		out.Ext = kcPart[dot:]
		kcPart = kcPart[:dot]
	}
	vid, err := ParseVolumeID(vidPart)
	if err != nil {
		return URLPath{}, fmt.Errorf("%w: volume id %q", ErrBadFileID, vidPart)
	}
	k, c, err := ParseKeyCookie(kcPart)
	if err != nil {
		return URLPath{}, err
	}
	out.FileID = FileID{Volume: vid, Key: k, Cookie: c}
	return out, nil
}
