package wire

import "strconv"

// Assignment is a master's answer to /dir/assign: the first of Count
// reserved fids (the others are Fid_1 … Fid_{Count-1}) and the volume
// server to upload them to. The master encodes it, the client decodes it.
type Assignment struct {
	// Fid is the first reserved file id.
	Fid string `json:"fid"`
	// URL is the address ("host:port") of the volume server to upload to.
	URL string `json:"url"`
	// PublicURL is the address users outside the cluster reach it at.
	PublicURL string `json:"publicUrl"`
	// Count is how many ids were reserved.
	Count int `json:"count"`
	// JWT is the write token of a secured cluster (-secure.secret), from
	// the reply's Authorization header (it is not part of the JSON body):
	// it allows uploading (and deleting) Fid and the other reserved ids
	// until it expires (a minute by default). Pass it in
	// client.UploadRequest.JWT. Empty when the master runs without a
	// secret.
	JWT string `json:"-"`
}

// FileID returns the id of the i-th reserved file: Fid for i == 0, else
// Fid+"_<i>".
func (a Assignment) FileID(i int) string {
	if i == 0 {
		return a.Fid
	}
	return a.Fid + "_" + strconv.Itoa(i)
}
