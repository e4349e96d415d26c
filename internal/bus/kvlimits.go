package bus

import "time"

// KVLimits bound one KV bucket, so no client can make it grow without
// end: one value per key (History 1, set in KV), a maximum age after
// which a record not rewritten is dropped, and a maximum size. Deleted
// keys leave markers, which the controller leader purges (PurgeDeletes)
// once they are a minute old.
type KVLimits struct {
	MaxAge   time.Duration
	MaxBytes int64
}

// MaxKVValueBytes bounds one value of any bucket.
const MaxKVValueBytes = MaxMessageBytes

// bucketLimits are the limits of the directory's buckets. Room and session
// records live as long as their room or session (the controller removes
// stale ones within seconds); the maximum age only catches what escapes
// that, and is far longer than any session.
var bucketLimits = map[string]KVLimits{
	BucketRooms:    {MaxAge: 30 * 24 * time.Hour, MaxBytes: 32 << 20},
	BucketSessions: {MaxAge: 30 * 24 * time.Hour, MaxBytes: 256 << 20},
	BucketNodes:    {MaxBytes: 16 << 20},
	BucketControl:  {MaxBytes: 16 << 20},
	BucketLeader:   {MaxBytes: 1 << 20},
	BucketRoutes:   {MaxBytes: 16 << 20},
	// Egress records of finished jobs are kept for a month.
	BucketEgress: {MaxAge: 30 * 24 * time.Hour, MaxBytes: 64 << 20},
}

// LimitsOf returns the limits of bucket; ttl, when not zero, is its age
// limit instead (leases).
func LimitsOf(bucket string, ttl time.Duration) KVLimits {
	l, ok := bucketLimits[bucket]
	if !ok {
		l = KVLimits{MaxBytes: 64 << 20}
	}
	if ttl != 0 {
		l.MaxAge = ttl
	}
	return l
}
