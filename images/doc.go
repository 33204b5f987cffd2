// Package images holds the image work of the volume server, as pure
// functions over bytes and a mime type (no HTTP, no storage): Resize, the
// ?width=&height=&mode= of a read, and FixJPEGOrientation with its EXIF
// reader (JPEGOrientation), the -images.fix.orientation of an upload.
//
// JPEG, PNG and GIF are handled (a GIF by its first frame, as weed-fs);
// anything else, and any image that does not decode, is returned unchanged.
// Scaling is golang.org/x/image/draw's Catmull-Rom kernel.
package images
