package httpx

import (
	"sync/atomic"
	"time"
)

// httpDateLen is the length of an http.TimeFormat date.
const httpDateLen = len("Mon, 02 Jan 2006 15:04:05 GMT")

// AppendHTTPDate appends t in http.TimeFormat ("Mon, 02 Jan 2006 15:04:05
// GMT", in UTC) to b, as t.UTC().AppendFormat(b, http.TimeFormat) would,
// without interpreting a layout. Years outside 0..9999 take the slow path.
func AppendHTTPDate(b []byte, t time.Time) []byte {
	t = t.UTC()
	year, month, day := t.Date()
	if year < 0 || year > 9999 {
		return t.AppendFormat(b, "Mon, 02 Jan 2006 15:04:05 GMT")
	}
	hour, minute, sec := t.Clock()
	const days = "SunMonTueWedThuFriSat"
	const months = "JanFebMarAprMayJunJulAugSepOctNovDec"
	wd := int(t.Weekday()) * 3
	mo := (int(month) - 1) * 3
	b = append(b, days[wd:wd+3]...)
	b = append(b, ',', ' ', byte('0'+day/10), byte('0'+day%10), ' ')
	b = append(b, months[mo:mo+3]...)
	b = append(b, ' ', byte('0'+year/1000), byte('0'+year/100%10), byte('0'+year/10%10), byte('0'+year%10), ' ')
	b = append(b, byte('0'+hour/10), byte('0'+hour%10), ':', byte('0'+minute/10), byte('0'+minute%10), ':',
		byte('0'+sec/10), byte('0'+sec%10))
	return append(b, " GMT"...)
}

// httpDate is one formatted second.
type httpDate struct {
	unix int64
	text string
}

// dateCacheSize is the number of seconds FormatHTTPDate remembers, each in
// the slot of its value modulo the size.
const dateCacheSize = 256

var dateCache [dateCacheSize]atomic.Pointer[httpDate]

// FormatHTTPDate returns t, to the second, in http.TimeFormat. The last
// formatted seconds are cached, so that serving files stored within the
// same few minutes formats (and allocates) each date once. Safe for
// concurrent use.
func FormatHTTPDate(t time.Time) string {
	sec := t.Unix()
	slot := &dateCache[uint64(sec)%dateCacheSize]
	if d := slot.Load(); d != nil && d.unix == sec {
		return d.text
	}
	var buf [httpDateLen]byte
	d := &httpDate{unix: sec, text: string(AppendHTTPDate(buf[:0], t))}
	slot.Store(d)
	return d.text
}
