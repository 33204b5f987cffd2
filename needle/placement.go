package needle

import (
	"errors"
	"fmt"
)

// ErrBadPlacement means a replication string is malformed.
var ErrBadPlacement = errors.New("malformed replication")

// Placement is a replication policy "xyz": DiffDataCenter copies in other
// data centers, DiffRack copies in other racks of the same data center, and
// SameRack copies on other nodes of the same rack.
//
// Its JSON form is the one weed-fs printed in /vol/status:
// {"SameRackCount":0,"DiffRackCount":0,"DiffDataCenterCount":1}.
type Placement struct {
	SameRack       int `json:"SameRackCount"`
	DiffRack       int `json:"DiffRackCount"`
	DiffDataCenter int `json:"DiffDataCenterCount"`
}

// ParsePlacement parses "xyz" (three decimal digits). The empty string is
// "000". The stored byte x*100+y*10+z must fit in a byte, so x is at most 2.
func ParsePlacement(s string) (Placement, error) {
	if s == "" {
		return Placement{}, nil
	}
	if len(s) != 3 {
		return Placement{}, fmt.Errorf("%w: %q must be three digits", ErrBadPlacement, s)
	}
	var d [3]int
	for i := 0; i < 3; i++ {
		if s[i] < '0' || s[i] > '9' {
			return Placement{}, fmt.Errorf("%w: %q must be three digits", ErrBadPlacement, s)
		}
		d[i] = int(s[i] - '0')
	}
	if d[0]*100+d[1]*10+d[2] > 255 {
		return Placement{}, fmt.Errorf("%w: %q is out of range", ErrBadPlacement, s)
	}
	return Placement{DiffDataCenter: d[0], DiffRack: d[1], SameRack: d[2]}, nil
}

// PlacementFromByte decodes the superblock byte x*100+y*10+z.
func PlacementFromByte(b byte) Placement {
	return Placement{DiffDataCenter: int(b) / 100, DiffRack: int(b) % 100 / 10, SameRack: int(b) % 10}
}

// Byte encodes the placement as stored in a superblock.
func (p Placement) Byte() byte {
	return byte(p.DiffDataCenter*100 + p.DiffRack*10 + p.SameRack)
}

// String returns the three-digit form, "000" for no replication.
func (p Placement) String() string {
	return fmt.Sprintf("%d%d%d", p.DiffDataCenter, p.DiffRack, p.SameRack)
}

// CopyCount is the number of copies of each volume: x+y+z+1.
func (p Placement) CopyCount() int {
	return p.DiffDataCenter + p.DiffRack + p.SameRack + 1
}
