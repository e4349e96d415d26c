package bus

// CodeLimit is the error code of a command refused by one of the node's
// limits (m-lines, tracks, candidates, participant fields, room state).
const CodeLimit = "limit_exceeded"
