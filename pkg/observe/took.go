package observe

import ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"

// Took takes a step's own answers as the observation of the kinds in k: a
// step that created something, or whose waiter's last poll showed the new
// state, knows those kinds as they are now, and describing them again
// right after would only repeat what AWS just said. set writes them into
// the observed state (replacing slices, never writing into them: earlier
// states share them). The next Refresh does not read k again; what the
// calls made since the last read changed besides k, and the kinds read
// from k (closeOver: the record named by the VPC's tags, the reservations
// of the template's type), it still reads. The caller vouches that
// nothing it did since the last Refresh left k otherwise than set says.
func (o *Observer) Took(k Kind, set func(*State)) {
	o.stale = (o.stale | o.touchedSinceMark() | o.closeOver(k)) &^ k
	o.mark = o.counts()
	if o.c.Recorder != nil {
		o.tags = len(o.c.Recorder.TagTargets())
	}
	set(&o.state)
}

// InstanceFrom is an instance as discovery reads it from EC2's answer, for
// a step that hands the answer of its own describe to Took.
func InstanceFrom(in ec2types.Instance) Instance { return instanceFrom(in) }
